//! Models of the zoo (tools/make_models.py) through the frontend: the imported graph of
//! ResNet-18 is pinned by a snapshot. `make test` generates the model first.

use pimlir::dialect::{new_context, DiagnosticCapture};
use std::path::Path;

fn model(name: &str) -> std::path::PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("models").join(format!("{name}.onnx"));
    assert!(p.exists(), "{} is missing: run `make models-test` (or `python tools/make_models.py {name}`)", p.display());
    p
}

#[test]
fn resnet18_graph_snapshot() {
    let ctx = new_context();
    let capture = DiagnosticCapture::attach(&ctx);
    let module = pimlir::driver::import_onnx(&ctx, &model("resnet18")).unwrap_or_else(|e| panic!("{e}"));
    assert!(!capture.has_errors());
    let text = pimlir::driver::module_to_mlir(&module, false);
    // The weight path depends on where the repository is checked out.
    let text = text.replace(&model("resnet18").display().to_string(), "models/resnet18.onnx");
    insta::assert_snapshot!(text);
}
