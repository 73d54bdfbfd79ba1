//! Writing an ISA [`Program`] as a pimsim-nn instruction file.
//!
//! Loops are expanded and every address is resolved to a byte address, loaded into a register
//! with `sldi` before the instruction that uses it (`rd` in register 0, `rs1` in 1, `rs2` in
//! 2, as PIMCOMP-NN does). A register that already holds the value is not reloaded.
//! A file is written whole or not at all: on an error, the partial output is removed.

use super::{REG_RD, REG_RS1, REG_RS2};
use crate::arch::CoreId;
use crate::diag::{Error, Result};
use crate::isa::{Addr, AttrValue, CoreProgram, Inst, Program};
use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

/// What an export wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportStats {
    pub cores: usize,
    /// Instruction records, `sldi` included.
    pub records: u64,
    /// `sldi` records added to load addresses.
    pub sldi: u64,
}

/// Writes `p` to `path`, gzipped when the name ends in `.gz`. `xbar_size` goes into the
/// config (rows, columns of a crossbar of the architecture).
/// The file appears whole or not at all (written under a temporary name, then renamed).
pub fn write(p: &Program, xbar_size: [u32; 2], path: &Path) -> Result<ExportStats> {
    let staged = crate::output::staging(path);
    let name = path.display().to_string();
    let result = write_file(p, xbar_size, &staged, path).and_then(|s| {
        crate::output::commit(&staged, path)
            .map(|()| s)
            .map_err(|e| Error::new(format!("cannot write output: {e}")).in_file(&name))
    });
    if result.is_err() {
        crate::output::discard(&staged, path);
    }
    result
}

fn write_file(p: &Program, xbar_size: [u32; 2], staged: &Path, path: &Path) -> Result<ExportStats> {
    let name = path.display().to_string();
    let io = |e: std::io::Error| Error::new(format!("cannot write output: {e}")).in_file(&name);
    let file = std::fs::File::create(staged).map_err(io)?;
    if path.extension().is_some_and(|e| e == "gz") {
        let gz = flate2::write::GzEncoder::new(
            std::io::BufWriter::with_capacity(1 << 16, file),
            flate2::Compression::fast(),
        );
        let mut out = std::io::BufWriter::with_capacity(1 << 16, gz);
        let stats = write_to(p, xbar_size, &mut out)?;
        let gz = out.into_inner().map_err(|e| io(e.into_error()))?;
        gz.finish().map_err(io)?.flush().map_err(io)?;
        Ok(stats)
    } else {
        let mut out = std::io::BufWriter::with_capacity(1 << 16, file);
        let stats = write_to(p, xbar_size, &mut out)?;
        out.flush().map_err(io)?;
        Ok(stats)
    }
}

/// Writes `p` as plain JSON, one record per line.
pub fn write_to(p: &Program, xbar_size: [u32; 2], out: &mut impl Write) -> Result<ExportStats> {
    p.check_allocated()?;
    crate::limits::check_instructions("exporting the program", p.dynamic_count())?;
    let mut cores: Vec<&CoreProgram> = p.cores.iter().collect();
    cores.sort_by_key(|c| c.id);
    let mut w = Writer { out, stats: ExportStats { cores: cores.len(), ..Default::default() }, err: None };
    let core_cnt = cores.last().map_or(0, |c| c.id.0 + 1);
    w.put(format_args!(
        "{{\"config\": {{\"core_cnt\": {core_cnt}, \"xbar_size\": [{}, {}], ",
        xbar_size[0], xbar_size[1]
    ));
    w.put(format_args!("\"array_group_map\": {{"));
    for (k, c) in cores.iter().filter(|c| !c.ags.is_empty()).enumerate() {
        let xbars: Vec<String> = c.ags.iter().map(|a| a.xbars.to_string()).collect();
        w.put(format_args!("{}\"core{}\": [{}]", if k > 0 { ", " } else { "" }, c.id, xbars.join(", ")));
    }
    w.put(format_args!("}}}}"));
    for c in cores {
        w.put(format_args!(",\n\"core{}\": [", c.id));
        // The register file along the core; pimsim-nn starts every core with zeros.
        let mut regs = [0i64; 32];
        let mut first = true;
        c.for_each(|inst, line, counters| -> Result<()> {
            let at = |a: &Addr| -> Result<i64> {
                let v = p.resolve(c, a, counters).expect("checked: every buffer is allocated");
                if v < 0 {
                    return Err(error_at(
                        p,
                        line,
                        format!("core {}: '{}' has the negative address {v}", c.id, inst.mnemonic()),
                    ));
                }
                Ok(v)
            };
            w.inst(p, c.id, inst, line, &at, &mut regs, &mut first)
        })?;
        w.put(format_args!("\n]"));
    }
    w.put(format_args!("\n}}\n"));
    match w.err {
        Some(e) => Err(Error::new(format!("cannot write output: {e}"))),
        None => Ok(w.stats),
    }
}

/// An error at line `line` of the program's source (when it came from a file).
fn error_at(p: &Program, line: u32, msg: String) -> Error {
    match p.loc(line) {
        Some(loc) if line > 0 => Error::at(
            format!("{}{msg}", if p.record_lines { format!("record {}: ", line - 1) } else { String::new() }),
            loc,
        ),
        _ => Error::new(msg),
    }
}

struct Writer<'a, W: Write> {
    out: &'a mut W,
    stats: ExportStats,
    /// First I/O error (later writes are skipped).
    err: Option<std::io::Error>,
}

const NO_OFFSET: &str = r#""offset": {"offset_select": 0, "offset_value": 0}"#;

impl<W: Write> Writer<'_, W> {
    fn put(&mut self, args: std::fmt::Arguments) {
        if self.err.is_none() {
            if let Err(e) = self.out.write_fmt(args) {
                self.err = Some(e);
            }
        }
    }

    fn record(&mut self, first: &mut bool, args: std::fmt::Arguments) {
        self.put(format_args!("{}\n{{{args}}}", if *first { "" } else { "," }));
        *first = false;
        self.stats.records += 1;
    }

    /// Loads `value` into register `r` unless it holds it already.
    fn load(&mut self, r: u8, value: i64, regs: &mut [i64; 32], first: &mut bool) {
        if regs[r as usize] != value {
            self.record(first, format_args!("\"op\": \"sldi\", \"rd\": {r}, \"imm\": {value}"));
            self.stats.sldi += 1;
            regs[r as usize] = value;
        }
    }

    /// One instruction as records: `sldi`s loading its addresses (the register each
    /// operand's field names), then the record, fields as the instruction table names them.
    #[allow(clippy::too_many_arguments)]
    fn inst(
        &mut self,
        p: &Program,
        core: CoreId,
        inst: &Inst,
        line: u32,
        at: &dyn Fn(&Addr) -> Result<i64>,
        regs: &mut [i64; 32],
        first: &mut bool,
    ) -> Result<()> {
        let info = inst.info();
        let op = info.mnemonic;
        if let Inst::Scalar { op: sop, rd, rs1, rs2, imm } = *inst {
            let value = sop.apply(regs[rd as usize], regs[rs1 as usize], regs[rs2 as usize], imm);
            self.record(
                first,
                format_args!("\"op\": \"{op}\", \"rd\": {rd}, \"rs1\": {rs1}, \"rs2\": {rs2}, \"imm\": {imm}"),
            );
            regs[rd as usize] = value;
            return Ok(());
        }
        if info.extension {
            return Err(error_at(
                p,
                line,
                format!("core {core}: {op} is a pimlir vector-unit extension, which pimsim-nn does not have"),
            ));
        }
        let values = inst.attrs();
        for (ai, v) in info.attrs.iter().zip(&values) {
            if ai.pimsim.is_none() && !ai.default.is_some_and(|d| d.same(*v)) {
                return Err(error_at(
                    p,
                    line,
                    format!(
                        "core {core}: {op} with {}={} has no pimsim-nn form (the format has no '{}')",
                        ai.name,
                        v.int(),
                        ai.name
                    ),
                ));
            }
            if let AttrValue::Float(f) = v {
                if !f.is_finite() {
                    return Err(error_at(p, line, format!("core {core}: {op} {} {f} is not a JSON number", ai.name)));
                }
            }
        }
        let mut fields = String::new();
        for (o, a) in info.operands.iter().zip(inst.addrs()) {
            let r = match o.pimsim {
                "rs1" => REG_RS1,
                "rs2" => REG_RS2,
                _ => REG_RD,
            };
            let v = at(a)?;
            self.load(r, v, regs, first);
            let _ = write!(fields, ", \"{}\": {r}", o.pimsim);
        }
        for (ai, v) in info.attrs.iter().zip(&values) {
            let Some(f) = ai.pimsim else { continue };
            let _ = match v {
                AttrValue::Int(i) => write!(fields, ", \"{f}\": {i}"),
                AttrValue::Flag(b) => write!(fields, ", \"{f}\": {}", *b as u8),
                AttrValue::Float(x) => write!(fields, ", \"{f}\": {x:?}"),
            };
        }
        if info.pimsim_offset {
            let _ = write!(fields, ", {NO_OFFSET}");
        }
        self.record(first, format_args!("\"op\": \"{op}\"{fields}"));
        Ok(())
    }
}
