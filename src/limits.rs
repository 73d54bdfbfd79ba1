//! Bounds on the work and memory an input may ask for, so that a small file cannot make a tool
//! run for days or exhaust the machine: the tools state what a request would cost and refuse
//! past a limit, which a command-line option raises (`--max-instructions`, `--max-memory`).
//!
//! The limits are process-wide settings (the tools set them from their options before any
//! work starts); the defaults are far above what real programs need (a ResNet-class program
//! executes about a million instructions).

use crate::diag::Error;
use std::sync::atomic::{AtomicU64, Ordering};

/// Dynamic instructions a flattening, an export, a simulation or the static communication
/// check may process.
/// VGG-16 executes 2.2 M per sample; the static check or a simulation of the limit takes
/// seconds in a release build.
pub const DEFAULT_INSTRUCTIONS: u64 = 100_000_000;
/// Bytes of host memory for the simulated memories, an imported or flattened program, and (a
/// quarter of it) a text input.
pub const DEFAULT_MEMORY: u64 = 4 << 30;

static INSTRUCTIONS: AtomicU64 = AtomicU64::new(DEFAULT_INSTRUCTIONS);
static MEMORY: AtomicU64 = AtomicU64::new(DEFAULT_MEMORY);

pub fn instructions() -> u64 {
    INSTRUCTIONS.load(Ordering::Relaxed)
}

pub fn set_instructions(n: u64) {
    INSTRUCTIONS.store(n, Ordering::Relaxed);
}

pub fn memory() -> u64 {
    MEMORY.load(Ordering::Relaxed)
}

pub fn set_memory(bytes: u64) {
    MEMORY.store(bytes, Ordering::Relaxed);
}

/// The error for `what` that would process `n` dynamic instructions, if that is over the limit.
pub fn check_instructions(what: &str, n: u64) -> Result<(), Error> {
    let limit = instructions();
    if n > limit {
        return Err(Error::new(format!(
            "{what} would process {n} dynamic instructions; the limit is {limit} (raise it with --max-instructions)"
        )));
    }
    Ok(())
}

/// The error for `what` that would allocate `bytes` of host memory, if that is over the limit.
pub fn check_memory(what: &str, bytes: u64) -> Result<(), Error> {
    let limit = memory();
    if bytes > limit {
        return Err(Error::new(format!(
            "{what} would need {} of host memory; the limit is {} (raise it with --max-memory)",
            human_bytes(bytes),
            human_bytes(limit)
        )));
    }
    Ok(())
}

/// Reads a text input of at most `cap` bytes. Reads in pieces, so that a device or a binary
/// file is refused at its first NUL byte instead of being read whole (`/dev/zero` would never
/// end); more than `cap` bytes, or bytes that are not UTF-8, are an error too.
pub fn read_text(mut r: impl std::io::Read, cap: u64) -> Result<String, String> {
    let mut buf: Vec<u8> = Vec::new();
    let mut piece = vec![0u8; 1 << 20];
    loop {
        let n = match r.read(&mut piece) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("cannot read: {e}")),
        };
        if let Some(i) = memchr::memchr(0, &piece[..n]) {
            return Err(format!("not a text file: a NUL byte at offset {}", buf.len() + i));
        }
        buf.extend_from_slice(&piece[..n]);
        if buf.len() as u64 > cap {
            return Err(format!(
                "larger than {}, the most pimlir reads as text (a quarter of --max-memory)",
                human_bytes(cap)
            ));
        }
    }
    String::from_utf8(buf).map_err(|e| format!("not UTF-8 text (at byte {})", e.utf8_error().valid_up_to()))
}

/// The most bytes a text input may have: a quarter of the memory limit (the parsed program
/// takes a few times its text).
pub fn text_cap() -> u64 {
    memory() / 4
}

/// `1536` -> `1.5 KiB`; bytes below 1 KiB as they are.
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if b < 1024 {
        return format!("{b} bytes");
    }
    let mut v = b as f64 / 1024.0;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.1} {}", UNITS[u])
}

/// Parses a size like `8G`, `512M`, `100000` (bytes) for `--max-memory`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, 'G' | 'g')) => (&t[..i], 1u64 << 30),
        Some((i, 'M' | 'm')) => (&t[..i], 1u64 << 20),
        Some((i, 'K' | 'k')) => (&t[..i], 1u64 << 10),
        _ => (t, 1),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("'{text}' is not a size (a positive number of bytes, or like 512M, 8G)"))
}

/// Most elements a tensor may have: every product of its dimensions, and of those with an
/// element size or a stride, stays far from overflowing 64 bits.
pub const MAX_ELEMENTS: i64 = 1 << 40;

/// The product of `dims` (of a tensor in a file), None when it overflows or a dimension is
/// negative.
pub fn checked_product(dims: &[i64]) -> Option<i64> {
    dims.iter().try_fold(1i64, |a, &d| if d < 0 { None } else { a.checked_mul(d) })
}

/// The number of elements of `shape`, if it is a valid shape of at most [`MAX_ELEMENTS`].
pub fn elements(shape: &[i64]) -> Result<i64, String> {
    let mut n: i64 = 1;
    for &d in shape {
        if d < 0 {
            return Err(format!("shape {shape:?} has a negative dimension"));
        }
        n = n.checked_mul(d).filter(|&n| n <= MAX_ELEMENTS).ok_or_else(|| {
            format!("shape {shape:?} has more than 2^40 elements; pimlir handles tensors up to that size")
        })?;
    }
    Ok(n)
}

/// Sets up the process's memory for the tools' pattern of work (call first in `main`): a
/// few very large vectors grown and freed, and hundreds of thousands of small objects.
/// - mimalloc's default returns each freed buffer to the OS after 10 ms, and the kernel then
///   zeroes fresh pages for the next growth (more than half of a ResNet-18 import in
///   pim-sim): freed memory stays for reuse instead.
/// - Transparent huge pages make a run's time depend on what ran before it (the kernel
///   compacts memory to find 2 MiB pages): a ResNet-18 import took 1.0-2.2 s with them,
///   1.26-1.44 s and 30 MB less without; its element-pipeline compile 0.66-1.07 s with them
///   (0.06-0.48 s of it in the kernel), 0.64-0.72 s and 36 MB less without.
pub fn tune_host_memory() {
    // SAFETY: mi_option_set only stores an option value; 15 is mi_option_purge_delay in
    // mimalloc v2 and v3 (mimalloc.h), which the bindings do not name.
    unsafe { libmimalloc_sys::mi_option_set(15, -1) };
    // SAFETY: prctl(PR_SET_THP_DISABLE) only sets a flag of this process.
    #[cfg(target_os = "linux")]
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("8G"), Ok(8 << 30));
        assert_eq!(parse_size("100"), Ok(100));
        assert!(parse_size("0").is_err());
        assert!(parse_size("99999999999999G").is_err());
    }
}
