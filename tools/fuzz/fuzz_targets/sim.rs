//! A `.pim` program from arbitrary text through the verifier, memory allocation and the
//! simulator (with generated weights and zero inputs): errors, never a panic, a hang or an
//! absurd allocation. The limits keep each run small.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pimlir::isa::{text, GlobalInit};
use pimlir::sim::{self, Tensor};

fuzz_target!(|data: &[u8]| {
    pimlir::limits::set_instructions(200_000);
    pimlir::limits::set_memory(64 << 20);
    let Ok(src) = std::str::from_utf8(data) else { return };
    let Ok(mut p) = text::parse(src, "fuzz.pim") else { return };
    let arch = pimlir::arch::Arch::preset("pimcomp-default").expect("preset");
    if !pimlir::isa::verify::check(&p, &arch).is_empty() {
        return;
    }
    if p.check_allocated().is_err() && pimlir::isa::alloc::allocate(&mut p, &arch).is_err() {
        return;
    }
    // Zero inputs of the shapes the program declares (only small ones).
    let mut inputs: Vec<(u32, Tensor)> = vec![];
    for g in &p.globals {
        if let GlobalInit::Input { index, shape } = &g.init {
            let Ok(n) = pimlir::limits::elements(shape) else { return };
            if n > 1 << 16 || inputs.iter().any(|(i, _)| i == index) {
                return;
            }
            inputs.push((*index, Tensor { shape: shape.clone(), data: vec![0.0; n as usize] }));
        }
    }
    inputs.sort_by_key(|i| i.0);
    if inputs.iter().enumerate().any(|(k, (i, _))| *i as usize != k) {
        return;
    }
    let inputs: Vec<Tensor> = inputs.into_iter().map(|i| i.1).collect();
    let weights = sim::weights::SeededWeights { seed: 1 };
    let _ = sim::run(&p, &arch, &weights, &inputs);
});
