//! The layering of the crate (docs/design.md), checked on the sources: each module may use
//! only the modules below it, and nothing outside the MLIR bridge (`dialect`, `pass`,
//! `driver`, the binaries) mentions melior or MLIR's C API. `cargo test --no-default-features`
//! proves the second part by building; this test names the rule and catches an upward use
//! between plain-Rust modules, which the build would not.

use std::collections::BTreeMap;
use std::path::Path;

/// Each module and the modules it may use (besides itself).
const LAYERS: &[(&str, &[&str])] = &[
    ("ids", &[]),
    ("diag", &[]),
    ("limits", &["diag"]),
    ("output", &[]),
    ("arch", &["ids", "diag", "limits"]),
    ("unfold", &[]),
    ("isa", &["ids", "diag", "limits", "arch", "unfold"]),
    ("cost", &["arch", "isa"]),
    ("onnx", &["diag", "limits"]),
    ("graph", &["ids", "diag", "limits"]),
    ("frontend", &["ids", "diag", "limits", "graph", "onnx"]),
    // The estimators follow the timing model (`cost`).
    ("mapping", &["ids", "diag", "limits", "arch", "unfold", "isa", "cost", "graph"]),
    ("pimsim", &["diag", "limits", "output", "arch", "isa"]),
    ("sim", &["ids", "diag", "limits", "output", "arch", "unfold", "isa", "cost", "onnx"]),
    ("sched", &["ids", "diag", "limits", "arch", "unfold", "isa", "cost", "graph", "mapping"]),
    ("compile", &["ids", "diag", "limits", "arch", "unfold", "isa", "cost", "graph", "frontend", "mapping", "sched"]),
];

/// The MLIR bridge: may use everything.
const BRIDGE: &[&str] = &["dialect", "pass", "driver"];

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn modules_use_only_the_layers_below_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![];
    sources(&src, &mut files);
    let allowed: BTreeMap<&str, &[&str]> = LAYERS.iter().copied().collect();
    let mut problems = vec![];
    for f in files {
        let rel = f.strip_prefix(&src).unwrap().to_string_lossy().replace('\\', "/");
        let module = rel.split('/').next().unwrap().trim_end_matches(".rs");
        if module == "lib" || module == "bin" || BRIDGE.contains(&module) {
            continue;
        }
        let Some(may) = allowed.get(module) else {
            problems.push(format!("{rel}: module '{module}' is not in LAYERS (add it where it belongs)"));
            continue;
        };
        let text = std::fs::read_to_string(&f).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if code.contains("melior") || code.contains("mlir_sys") {
                problems.push(format!("{rel}:{}: MLIR outside the bridge: {}", n + 1, line.trim()));
            }
            for (k, _) in code.match_indices("crate::") {
                let used: String =
                    code[k + 7..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                if used != module && !may.contains(&used.as_str()) && used != "id_type" && used != "bail" {
                    problems.push(format!("{rel}:{}: '{module}' uses '{used}', which is not below it", n + 1));
                }
            }
        }
    }
    assert!(problems.is_empty(), "layering violations:\n{}", problems.join("\n"));
}
