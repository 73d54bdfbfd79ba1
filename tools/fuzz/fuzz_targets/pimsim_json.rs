//! The pimsim-nn importer on arbitrary bytes: errors, never a panic; an accepted file
//! exports and imports back to the same program.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pimlir::pimsim;

fuzz_target!(|data: &[u8]| {
    let opts = pimsim::ImportOptions { arch: "pimcomp-default".into(), xbar_size: [128, 128], seed: 1, keep_scalar: false };
    let Ok(p) = pimsim::read_from(data, "fuzz.json", &opts) else { return };
    let mut out = vec![];
    if pimsim::write_to(&p, [128, 128], &mut out).is_err() {
        return; // e.g. a vmv stride or value JSON cannot hold
    }
    let back = pimsim::read_from(out.as_slice(), "fuzz.json", &opts).expect("exported file imports");
    assert_eq!(back, p, "export/import round trip");
});
