fn main() {
    let ctx = pimlir::dialect::new_context();
    let cap = pimlir::dialect::DiagnosticCapture::attach(&ctx);
    let src = std::fs::read_to_string("/tmp/c2.mlir").unwrap();
    let m = pimlir::dialect::parse_module(&ctx, &src, "c2.mlir").unwrap();
    let r = pimlir::dialect::graph_ir::read_graph(&m);
    println!("read: {:?}", r.as_ref().map(|x| x.1));
    let arch = pimlir::arch::Arch::load("pimcomp-default").unwrap();
    let v = pimlir::pass::verify::verify_module(&m, &arch);
    println!("verify: {:?}", v);
    println!("{:?}", cap.take());
}
