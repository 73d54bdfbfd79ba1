//! The pim_isa MLIR bridge keeps a program's source positions: a program read from `.pim`
//! text, written to MLIR and read back is equal to the original, lines included (line
//! equality compares, so a dropped position fails this test).

use pimlir::dialect::{isa_ir, new_context, DiagnosticCapture};

#[test]
fn lines_survive_the_mlir_round_trip() {
    let src = "arch \"pimcomp-default\"\n\nlayer l fc weight=\"w\" rows=4 cols=2\nglobal $g size=8\n\ncore 0 {\n  ag 0 l replica=0 rows=0..4 xbars=1\n  buffer @a size=8\n  buffer @b size=4\n  ld @a, $g, size=8\n  repeat i in 0..2 {\n    mvmul @b, @a, group=0\n  }\n}\n";
    let p = pimlir::isa::text::parse(src, "lines.pim").unwrap();
    assert_eq!(p.layers[0].line.0, 3);
    let ctx = new_context();
    let _capture = DiagnosticCapture::attach(&ctx);
    let module = melior::ir::Module::new(melior::ir::Location::unknown(&ctx));
    isa_ir::write_program(&ctx, &module, &p);
    let back = isa_ir::read_program(&module).unwrap();
    assert_eq!(back, p);
    let mut moved = pimlir::isa::text::parse(&src.replace("layer", "\nlayer"), "lines.pim").unwrap();
    assert_ne!(moved, p, "a program whose lines moved is not equal");
    moved.strip_lines();
    let mut stripped = p.clone();
    stripped.strip_lines();
    assert_eq!(moved, stripped);
}
