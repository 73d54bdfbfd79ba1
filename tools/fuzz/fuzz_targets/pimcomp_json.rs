//! A PIMCOMP-NN structure file from arbitrary bytes through the whole compilation in plain
//! Rust (import, partition, replication, placement, schedule, allocation) and the verifier:
//! errors, never a panic. Compiled programs must verify.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pimlir::limits::set_instructions(2_000_000);
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(imported) = pimlir::frontend::import_pimcomp_json(text, "fuzz.json") else { return };
    let arch = pimlir::arch::Arch::preset("pimcomp-default").expect("preset");
    for replicate in ["none", "balance"] {
        let opts = pimlir::compile::Options { replicate: replicate.into(), ..Default::default() };
        let Ok(p) = pimlir::compile::compile(&imported, "seed:1", &arch, "pimcomp-default", &opts) else { return };
        let findings = pimlir::isa::verify::check(&p, &arch);
        assert!(findings.is_empty(), "a compiled program does not verify: {findings:?}");
    }
});
