//! LeNet-5 through the library API: the compiled program is pinned by a snapshot, and the
//! simulated output matches the onnxruntime reference that tools/make_models.py saved.

use pimlir::driver::{compile_onnx, COMPILE_PIPELINE};
use pimlir::sim::{self, Tensor};
use std::path::Path;

fn models() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/models"))
}

/// `--compile` without replication: the emitter's output on one core, small enough to read
/// (the default strategy copies conv1 576 times).
const UNREPLICATED: &str = "partition,replicate{strategy=none},map-cores,schedule,alloc-memory";

#[test]
fn lenet5_program_snapshot() {
    let mut p = compile_onnx(&models().join("lenet5.onnx"), "pimcomp-default", UNREPLICATED).unwrap();
    p.weights = Some("lenet5.onnx".into());
    insta::assert_snapshot!(pimlir::isa::text::print(&p));
}

#[test]
fn lenet5_simulation_matches_onnxruntime_reference() {
    let onnx = models().join("lenet5.onnx");
    let weights = pimlir::onnx::OnnxModel::open(&onnx).unwrap();
    for arch in ["pimcomp-default", concat!(env!("CARGO_MANIFEST_DIR"), "/lit-tests/Inputs/tiny-arch.json")] {
        let p = compile_onnx(&onnx, arch, COMPILE_PIPELINE).unwrap();
        let a = pimlir::arch::Arch::load(arch).unwrap();
        for k in 0..3 {
            let x = Tensor::read_npy(&models().join(format!("lenet5.input{k}.npy"))).unwrap();
            let want = Tensor::read_npy(&models().join(format!("lenet5.output{k}.npy"))).unwrap();
            let got = sim::run(&p, &a, &weights, &[x]).unwrap();
            assert_eq!(got.outputs[0].shape, want.shape);
            let err = got.outputs[0].data.iter().zip(&want.data).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(err <= 1e-4, "{arch} input {k}: max abs error {err}");
        }
    }
}

/// Every replication strategy on an architecture too small for all replicas (12 cores of 3
/// 64x64 crossbars): the replicas fit (the placement succeeds), and the program still
/// computes the model.
#[test]
fn every_replication_strategy_fits_and_computes_the_model() {
    let onnx = models().join("lenet5.onnx");
    let weights = pimlir::onnx::OnnxModel::open(&onnx).unwrap();
    let imported = pimlir::frontend::import_onnx(&onnx).unwrap();
    let spec = concat!(env!("CARGO_MANIFEST_DIR"), "/lit-tests/Inputs/tiny-arch.json");
    let arch = pimlir::arch::Arch::load(spec).unwrap();
    let x = Tensor::read_npy(&models().join("lenet5.input0.npy")).unwrap();
    let want = Tensor::read_npy(&models().join("lenet5.output0.npy")).unwrap();
    for strategy in pimlir::mapping::replicate::STRATEGIES.iter().map(|s| s.name()) {
        let opts = pimlir::compile::Options { replicate: strategy.into(), ..Default::default() };
        let p = pimlir::compile::compile(&imported, &onnx.display().to_string(), &arch, spec, &opts)
            .unwrap_or_else(|e| panic!("{strategy}: {e}"));
        let xbars: u64 = p.cores.iter().flat_map(|c| &c.ags).map(|g| u64::from(g.xbars)).sum();
        assert!(xbars <= u64::from(arch.core_count() * arch.xbars_per_core()), "{strategy}: {xbars} crossbars");
        let got = sim::run(&p, &arch, &weights, std::slice::from_ref(&x)).unwrap();
        let err = got.outputs[0].data.iter().zip(&want.data).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(err <= 1e-4, "{strategy}: max abs error {err}");
    }
}

#[test]
fn lenet5_static_program_stays_small() {
    // The schedule is rerolled into loops: the static program is a small fraction of what runs
    // (a replica of one window, as the default strategy gives conv1, has no loop to fold).
    let p = compile_onnx(&models().join("lenet5.onnx"), "pimcomp-default", UNREPLICATED).unwrap();
    let (stat, dynamic) = (p.static_count(), p.dynamic_count());
    assert!(dynamic > 50 * stat, "static {stat}, dynamic {dynamic}");
}

#[test]
fn the_library_pipeline_equals_the_pass_pipeline() {
    // pim-opt's MLIR passes and the plain-Rust pipeline make the same decisions.
    for strategy in ["none", "balance", "work", "uniform", "proportional"] {
        let onnx = models().join("lenet5.onnx");
        let pipeline = format!("partition,replicate{{strategy={strategy}}},map-cores,schedule,alloc-memory");
        let mut by_passes = compile_onnx(&onnx, "pimcomp-default", &pipeline).unwrap();
        let imported = pimlir::frontend::import_onnx(&onnx).unwrap();
        let arch = pimlir::arch::Arch::load("pimcomp-default").unwrap();
        let opts = pimlir::compile::Options { replicate: strategy.into(), ..Default::default() };
        let weights = onnx.display().to_string();
        let mut direct = pimlir::compile::compile(&imported, &weights, &arch, "pimcomp-default", &opts).unwrap();
        by_passes.strip_lines();
        direct.strip_lines();
        assert_eq!(pimlir::isa::text::print(&by_passes), pimlir::isa::text::print(&direct), "{strategy}");
    }
    // And in the element pipeline.
    let onnx = models().join("lenet5.onnx");
    let pipeline = "partition,replicate{strategy=work},map-cores,schedule{mode=ll bands=8},alloc-memory";
    let mut by_passes = compile_onnx(&onnx, "pimcomp-default", pipeline).unwrap();
    let imported = pimlir::frontend::import_onnx(&onnx).unwrap();
    let arch = pimlir::arch::Arch::load("pimcomp-default").unwrap();
    let opts = pimlir::compile::Options {
        replicate: "work".into(),
        mode: pimlir::sched::Mode::Ll { bands: 8 },
        ..Default::default()
    };
    let mut direct =
        pimlir::compile::compile(&imported, &onnx.display().to_string(), &arch, "pimcomp-default", &opts).unwrap();
    by_passes.strip_lines();
    direct.strip_lines();
    assert_eq!(pimlir::isa::text::print(&by_passes), pimlir::isa::text::print(&direct), "ll");
}

/// A pass that panics (a bug) is reported as an internal error naming the pass; the process
/// does not abort (a panic unwinding into MLIR's C++ would).
#[test]
fn a_panicking_pass_becomes_an_internal_error() {
    use pimlir::pass::{create, Options, PassContext, PassDef};
    fn boom(_: &PassContext, _: &mut melior::ir::Module) -> Result<(), pimlir::dialect::graph_ir::Failed> {
        let v: Vec<u32> = vec![];
        let _ = v[3];
        Ok(())
    }
    static BOOM: PassDef = PassDef { name: "boom", summary: "panics", options: &[], run: boom, checks_output: false };
    let ctx = pimlir::dialect::new_context();
    let capture = pimlir::dialect::DiagnosticCapture::attach(&ctx);
    let mut module = melior::ir::Module::new(melior::ir::Location::new(&ctx, "m.mlir", 1, 1));
    let arch = std::sync::Arc::new(pimlir::arch::Arch::load("pimcomp-default").unwrap());
    let pm = melior::pass::PassManager::new(&ctx);
    pm.add_pass(create(&BOOM, Options::default(), arch, "pimcomp-default".into(), true, Default::default()));
    assert!(pm.run(&mut module).is_err());
    let d = capture.take();
    let msg = &d[0].message;
    assert!(msg.starts_with("internal error in pass 'boom': index out of bounds"), "{msg}");
    assert!(msg.contains("tests/lenet5.rs:"), "{msg}");
}

#[test]
fn every_pass_has_a_type_id() {
    // One id per registered pass, one left for passes outside the registry (tests).
    assert!(pimlir::pass::PASSES.len() < 8);
}

#[test]
fn the_program_a_pass_hands_over_is_the_one_in_its_module() {
    // --schedule and --alloc-memory hand the program they wrote to the next step instead of
    // it reading the module back (pass::handoff): it must be exactly what the module holds.
    use pimlir::dialect::{isa_ir, new_context, DiagnosticCapture};
    use pimlir::driver::{import_onnx, run_pipeline, COMPILE_PIPELINE_LL};
    let onnx = models().join("lenet5.onnx");
    let arch = pimlir::arch::Arch::load("pimcomp-default").unwrap();
    let ctx = new_context();
    let _capture = DiagnosticCapture::attach(&ctx);
    for pipeline in [COMPILE_PIPELINE, COMPILE_PIPELINE_LL, "partition,replicate,map-cores,schedule"] {
        let mut module = import_onnx(&ctx, &onnx).unwrap();
        let handoff = run_pipeline(&ctx, &mut module, pipeline, &arch, "pimcomp-default").unwrap();
        let handed = handoff.take(&module).expect("the last pass hands its program over");
        assert_eq!(handed, isa_ir::read_program(&module).unwrap(), "{pipeline}");
        assert!(handoff.take(&module).is_none(), "a program is handed over once");
    }
    // An upstream pass in the pipeline could change the module between two of ours: then
    // nothing is handed over, and the module is read.
    let mut module = import_onnx(&ctx, &onnx).unwrap();
    let pipeline = format!("canonicalize,{COMPILE_PIPELINE}");
    let handoff = run_pipeline(&ctx, &mut module, &pipeline, &arch, "pimcomp-default").unwrap();
    assert!(handoff.take(&module).is_none());
    assert!(isa_ir::read_program(&module).is_ok());
}
