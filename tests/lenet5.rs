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
