//! Compile-time benchmark of the plain-Rust pipeline (`pimlir::compile`, no MLIR): what the
//! passes decide, without the cost of reading and writing the module between them.
//!
//!   cargo bench --bench compile [-- MODEL.onnx ...]
//!
//! Default models: `models/resnet18.onnx` (`make models-test`) with both replication
//! strategies. Prints the median of 5 runs of import and of compile. `tools/bench_compile.sh`
//! measures the same through `pim-opt` (with MLIR) and the peak memory.

use pimlir::arch::Arch;
use pimlir::compile::{compile, Options};
use std::path::PathBuf;
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let mut models: Vec<PathBuf> =
        std::env::args().skip(1).filter(|a| !a.starts_with("--")).map(PathBuf::from).collect();
    if models.is_empty() {
        models.push(PathBuf::from("models/resnet18.onnx"));
    }
    let arch = Arch::preset("pimcomp-default").expect("preset");
    println!("{:<28} {:<9} {:>10} {:>11} {:>13}", "model", "replicate", "import s", "compile s", "instructions");
    for path in &models {
        if !path.exists() {
            println!("{:<28} missing (make models-test, or make models ZOO=1)", path.display());
            continue;
        }
        for strategy in ["none", "balance"] {
            let opts = Options { replicate: strategy.into(), ..Options::default() };
            let (mut ti, mut tc, mut n) = (vec![], vec![], 0);
            for _ in 0..5 {
                let t0 = Instant::now();
                let imported = match pimlir::frontend::import_onnx(path) {
                    Ok(i) => i,
                    Err(e) => {
                        println!("{:<28} import failed: {e}", path.display());
                        return;
                    }
                };
                ti.push(t0.elapsed().as_secs_f64());
                let t1 = Instant::now();
                match compile(&imported, &path.display().to_string(), &arch, "pimcomp-default", &opts) {
                    Ok(p) => n = p.static_count(),
                    Err(e) => {
                        println!("{:<28} {strategy:<9} compile failed: {e}", path.display());
                        break;
                    }
                }
                tc.push(t1.elapsed().as_secs_f64());
            }
            if tc.len() == 5 {
                let name = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
                println!("{name:<28} {strategy:<9} {:>10.4} {:>11.4} {n:>13}", median(ti), median(tc));
            }
        }
    }
}
