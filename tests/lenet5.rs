//! LeNet-5 through the library API: the compiled program is pinned by a snapshot, and the
//! simulated output matches the onnxruntime reference that tools/make_models.py saved.

use pimlir::driver::{compile_onnx, COMPILE_PIPELINE};
use pimlir::sim::{self, Tensor};
use std::path::Path;

fn models() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/models"))
}

#[test]
fn lenet5_program_snapshot() {
    let mut p = compile_onnx(&models().join("lenet5.onnx"), "pimcomp-default", COMPILE_PIPELINE).unwrap();
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

#[test]
fn lenet5_static_program_stays_small() {
    // The schedule is rerolled into loops: the static program is a small fraction of what runs.
    let p = compile_onnx(&models().join("lenet5.onnx"), "pimcomp-default", COMPILE_PIPELINE).unwrap();
    let (stat, dynamic) = (p.static_count(), p.dynamic_count());
    assert!(dynamic > 50 * stat, "static {stat}, dynamic {dynamic}");
}

#[test]
fn the_library_pipeline_equals_the_pass_pipeline() {
    // pim-opt's MLIR passes and the plain-Rust pipeline make the same decisions.
    for strategy in ["none", "balance"] {
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
}
