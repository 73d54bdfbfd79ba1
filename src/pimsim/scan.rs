//! A fast reader for well-formed pimsim-nn instruction files: a byte scanner for the record
//! objects (flat, a few known keys) with decompression on a second thread, about five times
//! the speed of the serde reader. It gives up (returns `None`) on anything it does not expect
//! (escapes in strings, a float where an integer goes, a duplicate key, a limit), and the
//! caller then reads the file with the serde reader, whose errors say what and where; so the
//! two agree on every file the scanner accepts, and the scanner never reports an error itself.

use super::import::{check_records, core_id, Config, Offset, Op, Parsed, ParsedCore, Record};
use crate::isa::inst::Opcode;
use std::io::Read;
use std::path::Path;
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender};

const CHUNK: usize = 1 << 20;

/// The decompressed bytes, chunk by chunk from the reading thread.
struct Bytes {
    rx: Receiver<Vec<u8>>,
    /// Used chunks go back to the reader, which refills them (fresh pages cost a fault and
    /// zeroing each).
    back: Sender<Vec<u8>>,
    buf: Vec<u8>,
    pos: usize,
}

impl Bytes {
    #[inline]
    fn peek(&mut self) -> Option<u8> {
        if self.pos < self.buf.len() {
            return Some(self.buf[self.pos]);
        }
        let used = std::mem::replace(&mut self.buf, self.rx.recv().ok()?);
        let _ = self.back.send(used);
        self.pos = 0;
        self.buf.first().copied()
    }

    #[inline]
    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Some(b)
    }

    /// After an element of an object or array: `Some(true)` past a `,` (another follows),
    /// `Some(false)` past `close`, `None` on anything else.
    fn more(&mut self, close: u8) -> Option<bool> {
        let b = self.ws()?;
        self.pos += 1;
        match b {
            b',' => Some(true),
            _ if b == close => Some(false),
            _ => None,
        }
    }

    /// The next byte that is not white space (not consumed).
    #[inline]
    fn ws(&mut self) -> Option<u8> {
        loop {
            let b = self.peek()?;
            if !matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
                return Some(b);
            }
            self.pos += 1;
        }
    }

    fn expect(&mut self, c: u8) -> Option<()> {
        (self.ws()? == c).then(|| self.pos += 1)
    }

    /// A string without escapes, into `out`.
    fn string(&mut self, out: &mut Vec<u8>) -> Option<()> {
        self.expect(b'"')?;
        out.clear();
        loop {
            match self.next()? {
                b'"' => return Some(()),
                b'\\' => return None,
                b => out.push(b),
            }
        }
    }

    /// A number's text, if it follows JSON's grammar (`-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE]
    /// [+-]? [0-9]+)?`): Rust's parsers accept more (`+5`, `007`, `.5`), serde does not.
    fn number<'a>(&mut self, out: &'a mut Vec<u8>) -> Option<&'a [u8]> {
        self.ws()?;
        out.clear();
        while let Some(b) = self.peek() {
            if b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E') {
                out.push(b);
                self.pos += 1;
            } else {
                break;
            }
        }
        json_number(out).then_some(out.as_slice())
    }

    /// An integer (not `-0`, which serde reads as a float).
    fn int(&mut self, tmp: &mut Vec<u8>) -> Option<i64> {
        let t = self.number(tmp)?;
        if t.iter().any(|b| matches!(b, b'.' | b'e' | b'E')) || t == b"-0" {
            return None;
        }
        std::str::from_utf8(t).ok()?.parse().ok()
    }

    /// Any value, its bytes appended to `out` when given (for `config`): verbatim, white
    /// space included, so that serde judges exactly the file's text.
    fn skip(&mut self, mut out: Option<&mut Vec<u8>>, depth: u32) -> Option<()> {
        if depth > 64 {
            return None;
        }
        // White space before the value, kept.
        loop {
            let b = self.peek()?;
            if !matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
                break;
            }
            if let Some(o) = out.as_deref_mut() {
                o.push(b);
            }
            self.pos += 1;
        }
        let first = self.peek()?;
        let push = |b: u8, out: &mut Option<&mut Vec<u8>>| {
            if let Some(o) = out {
                o.push(b);
            }
        };
        match first {
            b'{' | b'[' => {
                let close = if first == b'{' { b'}' } else { b']' };
                self.pos += 1;
                push(first, &mut out);
                loop {
                    // White space between elements, kept.
                    let b = loop {
                        let b = self.peek()?;
                        if !matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
                            break b;
                        }
                        push(b, &mut out);
                        self.pos += 1;
                    };
                    if b == close {
                        self.pos += 1;
                        push(b, &mut out);
                        return Some(());
                    }
                    if matches!(b, b',' | b':') {
                        self.pos += 1;
                        push(b, &mut out);
                        continue;
                    }
                    self.skip(out.as_deref_mut(), depth + 1)?;
                }
            }
            b'"' => {
                self.pos += 1;
                push(b'"', &mut out);
                loop {
                    let b = self.next()?;
                    push(b, &mut out);
                    match b {
                        b'"' => return Some(()),
                        b'\\' => push(self.next()?, &mut out),
                        _ => {}
                    }
                }
            }
            _ => {
                while let Some(b) = self.peek() {
                    if matches!(b, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t') {
                        break;
                    }
                    push(b, &mut out);
                    self.pos += 1;
                }
                Some(())
            }
        }
    }

    /// One record object.
    fn record(&mut self, key: &mut Vec<u8>, tmp: &mut Vec<u8>) -> Option<Record> {
        self.expect(b'{')?;
        let mut r = Record {
            op: Op(Opcode::Nop),
            rd: None,
            rs1: None,
            rs2: None,
            imm: None,
            len: None,
            size: None,
            core: None,
            group: None,
            relu: None,
            mbiw: None,
            ibiw: None,
            obiw: None,
            offset: None,
            wait_value: None,
            event_register: None,
        };
        let mut seen = 0u32;
        let mut has_op = false;
        if self.ws()? == b'}' {
            return None; // no "op": the serde reader says so
        }
        loop {
            self.string(key)?;
            self.expect(b':')?;
            let bit = |k: &[u8]| -> u32 {
                let keys: [&[u8]; 16] = [
                    b"op",
                    b"rd",
                    b"rs1",
                    b"rs2",
                    b"imm",
                    b"len",
                    b"size",
                    b"core",
                    b"group",
                    b"relu",
                    b"mbiw",
                    b"ibiw",
                    b"obiw",
                    b"offset",
                    b"wait_value",
                    b"event_register",
                ];
                keys.iter().position(|x| *x == k).map_or(0, |i| 1 << i)
            };
            let b = bit(key);
            if b != 0 {
                if seen & b != 0 {
                    return None; // a duplicate key
                }
                seen |= b;
            }
            match key.as_slice() {
                b"op" => {
                    self.string(tmp)?;
                    r.op = Op(Opcode::from_mnemonic(std::str::from_utf8(tmp).ok()?)?);
                    has_op = true;
                }
                b"rd" => r.rd = Some(self.int(tmp)?),
                b"rs1" => r.rs1 = Some(self.int(tmp)?),
                b"rs2" => r.rs2 = Some(self.int(tmp)?),
                b"len" => r.len = Some(self.int(tmp)?),
                b"size" => r.size = Some(self.int(tmp)?),
                b"core" => r.core = Some(self.int(tmp)?),
                b"group" => r.group = Some(self.int(tmp)?),
                b"mbiw" => r.mbiw = Some(self.int(tmp)?),
                b"ibiw" => r.ibiw = Some(self.int(tmp)?),
                b"obiw" => r.obiw = Some(self.int(tmp)?),
                b"wait_value" => r.wait_value = Some(self.int(tmp)?),
                b"event_register" => r.event_register = Some(self.int(tmp)?),
                b"relu" => {
                    r.relu = Some(match self.ws()? {
                        b't' | b'f' => {
                            let mut w = Vec::new();
                            self.skip(Some(&mut w), 0)?;
                            match w.as_slice() {
                                b"true" => 1,
                                b"false" => 0,
                                _ => return None,
                            }
                        }
                        _ => self.int(tmp)?,
                    })
                }
                b"imm" => {
                    // serde_json's own reading of the number (integer or float, rounding).
                    r.imm = Some(serde_json::from_slice::<serde_json::Number>(self.number(tmp)?).ok()?);
                }
                b"offset" => {
                    self.expect(b'{')?;
                    let mut o = Offset::default();
                    let mut got = 0;
                    loop {
                        self.string(key)?;
                        self.expect(b':')?;
                        match key.as_slice() {
                            b"offset_select" if got & 1 == 0 => o.offset_select = self.int(tmp)?,
                            b"offset_value" if got & 2 == 0 => o.offset_value = self.int(tmp)?,
                            _ => return None,
                        }
                        got |= if key.as_slice() == b"offset_select" { 1 } else { 2 };
                        if !self.more(b'}')? {
                            break;
                        }
                    }
                    if got != 3 {
                        return None;
                    }
                    r.offset = Some(o);
                }
                _ => self.skip(None, 0)?,
            }
            if !self.more(b'}')? {
                break;
            }
        }
        has_op.then_some(r)
    }
}

/// Whether `t` is a number by JSON's grammar.
fn json_number(t: &[u8]) -> bool {
    let mut i = 0;
    let digits = |i: &mut usize| {
        let s = *i;
        while *i < t.len() && t[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > s
    };
    if t.first() == Some(&b'-') {
        i += 1;
    }
    match t.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            digits(&mut i);
        }
        _ => return false,
    }
    if t.get(i) == Some(&b'.') {
        i += 1;
        if !digits(&mut i) {
            return false;
        }
    }
    if matches!(t.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(t.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !digits(&mut i) {
            return false;
        }
    }
    i == t.len()
}

/// Reads the file at `path` (gzipped or not); `None` when anything is unexpected. Only a
/// regular file: the scanner opens it anew, which a pipe would not survive (its first bytes
/// were read already, to spot gzip).
pub(super) fn read(path: &Path, gzipped: bool, keep_scalar: bool) -> Option<Parsed> {
    if !std::fs::metadata(path).ok()?.is_file() {
        return None;
    }
    let file = std::fs::File::open(path).ok()?;
    let (tx, rx) = sync_channel::<Vec<u8>>(4);
    let (back, back_rx) = channel::<Vec<u8>>();
    let reader = std::thread::spawn(move || {
        let mut src: Box<dyn Read> = if gzipped {
            Box::new(flate2::read::MultiGzDecoder::new(std::io::BufReader::with_capacity(1 << 16, file)))
        } else {
            Box::new(file)
        };
        loop {
            let mut buf = back_rx.try_recv().unwrap_or_default();
            buf.resize(CHUNK, 0);
            let mut n = 0;
            while n < CHUNK {
                match src.read(&mut buf[n..]) {
                    Ok(0) => break,
                    Ok(k) => n += k,
                    Err(_) => return false,
                }
            }
            buf.truncate(n);
            let last = n < CHUNK;
            if n > 0 && tx.send(buf).is_err() {
                return true; // the scanner stopped early
            }
            if last {
                return true;
            }
        }
    });
    let parsed = scan(&mut Bytes { rx, back, buf: vec![], pos: 0 }, keep_scalar);
    // A read error (a corrupt gzip) also sends the caller to the serde reader.
    let read_ok = reader.join().unwrap_or(false);
    parsed.filter(|_| read_ok)
}

fn scan(b: &mut Bytes, keep_scalar: bool) -> Option<Parsed> {
    let (mut key, mut tmp) = (Vec::new(), Vec::new());
    let mut config = None;
    let mut cores: Vec<ParsedCore> = vec![];
    let mut ids = std::collections::HashSet::new();
    let mut records = 0u64;
    b.expect(b'{')?;
    loop {
        b.string(&mut key)?;
        b.expect(b':')?;
        if key == b"config" {
            if config.is_some() {
                return None;
            }
            let mut raw = Vec::new();
            b.skip(Some(&mut raw), 0)?;
            config = Some(serde_json::from_slice::<Config>(&raw).ok()?);
        } else {
            let id = core_id(std::str::from_utf8(&key).ok()?)?;
            if !ids.insert(id) {
                return None;
            }
            let mut core = ParsedCore::new(id);
            let mut regs = [0i64; 32];
            b.expect(b'[')?;
            let mut index = 0u64;
            if b.ws()? == b']' {
                b.pos += 1;
            } else {
                loop {
                    let r = b.record(&mut key, &mut tmp)?;
                    records += 1;
                    check_records(records).ok()?;
                    core.push(&r, &mut regs, index, keep_scalar).ok()?;
                    index += 1;
                    if !b.more(b']')? {
                        break;
                    }
                }
            }
            cores.push(core);
        }
        if !b.more(b'}')? {
            break;
        }
    }
    // Nothing but white space after the object.
    if b.ws().is_some() {
        return None;
    }
    Some(Parsed { config: config?, cores })
}

#[cfg(test)]
mod tests {
    use super::super::import::{assemble, read_from, ImportOptions};
    use std::io::Write;

    fn opts() -> ImportOptions {
        ImportOptions { arch: "pimcomp-default".into(), xbar_size: [128, 128], seed: 0, keep_scalar: true }
    }

    fn scanned(json: &str, gzip: bool) -> Option<crate::isa::Program> {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        if gzip {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(json.as_bytes()).unwrap();
            f.write_all(&gz.finish().unwrap()).unwrap();
        } else {
            f.write_all(json.as_bytes()).unwrap();
        }
        let parsed = super::read(f.path(), gzip, true)?;
        Some(assemble(parsed, &opts()).unwrap())
    }

    /// Every file the scanner accepts reads exactly as the serde reader reads it.
    #[test]
    fn scanner_agrees_with_the_serde_reader() {
        let files = [
            r#"{"config": {"core_cnt": 2, "array_group_map": {"core0": [2], "core1": []}, "x": [1, {"y": "a\"b"}]},
                "core0": [{"op": "sldi", "rd": 0, "imm": 256}, {"op": "sldi", "rd": 1, "imm": -8}, {"op": "saddi", "rd": 1, "rs1": 1, "imm": 64},
                          {"op": "saddi", "rd": 1, "rs1": 1, "imm": 4, "comment": [1, 2]},
                          {"op": "lldi", "rd": 0, "imm": 1.5e0, "len": 4},
                          {"op": "mvmul", "rd": 0, "rs1": 1, "group": 0, "relu": true, "mbiw": 8},
                          {"op": "send", "rd": 0, "core": 1, "size": 16, "offset": {"offset_value": 0, "offset_select": 0}}],
                "core1": [{"op": "recv", "rd": 0, "core": 0, "size": 16}, {"op": "sync", "core": 0, "event_register": 2, "relu": false}]}"#,
            r#"{"core0": [], "config": {"core_cnt": 1}}"#,
            // -0 as an lldi value is the float -0.0, as serde reads it.
            r#"{"config": {"core_cnt": 1, "x": [1, 2 ]}, "core0": [{"op": "lldi", "rd": 0, "imm": -0, "len": 4}, {"op": "lldi", "rd": 0, "imm": 1.5e-3, "len": 4}]}"#,
        ];
        for json in files {
            let serde = read_from(json.as_bytes(), "t.json", &opts()).unwrap();
            for gzip in [false, true] {
                assert_eq!(scanned(json, gzip).as_ref(), Some(&serde), "gzip {gzip}: {json}");
            }
        }
    }

    /// What the scanner does not expect goes to the serde reader (which accepts or explains it).
    #[test]
    fn scanner_declines_the_unexpected() {
        let declined = [
            r#"{"config": {"core_cnt": 1}, "core0": [{"op": "sldi", "rd": 0, "imm": 1, "rd": 2}]}"#,
            r#"{"config": {"core_cnt": 1}, "core0": [{"op": "sld\u0069", "rd": 0, "imm": 1}]}"#,
            r#"{"config": {"core_cnt": 1}, "core0": [{"op": "sldi", "rd": null, "imm": 1}]}"#,
            r#"{"config": {"core_cnt": 1}, "core0": [{"op": "sldi", "rd": 0, "imm": 1}]} x"#,
            r#"{"config": {"core_cnt": 1}, "core0": [{"op": "sldi", "rd": 0, "imm": 1}"#,
            r#"{"config": {"core_cnt": 1}, "core0": [{"rd": 0}]}"#,
            r#"{"core0": []}"#,
            // Not JSON numbers (Rust's parsers take them), and -0 (a float to serde).
            r#"{"config": {"core_cnt": 1}, "core0": [{"op": "sldi", "rd": 0, "imm": +5}]}"#,
            r#"{"config": {"core_cnt": 1}, "core0": [{"op": "sldi", "rd": 007, "imm": 5}]}"#,
            r#"{"config": {"core_cnt": 1}, "core0": [{"op": "sldi", "rd": -0, "imm": 5}]}"#,
            r#"{"config": {"core_cnt": 1}, "core0": [{"op": "lldi", "rd": 0, "imm": .5, "len": 4}]}"#,
            // Values glued by white space in the config are not one value.
            r#"{"config": {"core_cnt": 1 6}, "core0": []}"#,
            r#"{"config": {"core_cnt": 1, "array_group_map": {"core0": [1 6]}}, "core0": []}"#,
        ];
        for json in declined {
            assert!(scanned(json, false).is_none(), "{json}");
        }
        // Only regular files: a pipe's first bytes were read already.
        assert!(super::read(std::path::Path::new("/dev/null"), false, true).is_none());
        // A truncated gzip stream is declined too, though its records so far are well formed.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(r#"{"config": {"core_cnt": 1}, "core0": []}"#.as_bytes()).unwrap();
        let bytes = gz.finish().unwrap();
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&bytes[..bytes.len() - 6]).unwrap();
        assert!(super::read(f.path(), true, true).is_none());
    }
}
