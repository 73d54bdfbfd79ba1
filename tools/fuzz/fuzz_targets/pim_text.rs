//! The `.pim` reader on arbitrary text: it must report errors, never panic; whatever it
//! accepts must print, parse back to the same program, and survive verification.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pimlir::isa::text;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else { return };
    let Ok(p) = text::parse(src, "fuzz.pim") else { return };
    let printed = text::print(&p);
    let again = text::parse(&printed, "fuzz.pim").expect("printed program parses");
    // Printing lays the text out anew: compare meaning, not source lines.
    let (mut a, mut b) = (again.clone(), p.clone());
    a.strip_lines();
    b.strip_lines();
    assert_eq!(a, b, "print/parse round trip");
    assert_eq!(text::print(&again), printed);
    let arch = pimlir::arch::Arch::preset("pimcomp-default").expect("preset");
    let _ = pimlir::isa::verify::check(&p, &arch);
});
