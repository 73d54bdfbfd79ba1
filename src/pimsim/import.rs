//! Reading a pimsim-nn instruction file into an ISA [`Program`].
//!
//! The file is streamed: gzip is decoded on the fly and each core's records are converted to
//! instructions as the JSON parser produces them, so memory holds the program, never the JSON
//! text or a document tree. Scalar instructions are evaluated (a core's program is straight
//! line, so its register file is known at every point) and disappear: each register operand
//! becomes the address the register holds.

use crate::arch::CoreId;
use crate::diag::{Error, Result};
use crate::isa::{
    Addr, ArrayGroup, AttrKind, AttrValue, CoreProgram, Inst, Layer, Line, Opcode, Program, ScalarOp, Stmt,
};
use serde::de::{self, DeserializeSeed, Deserializer as _, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::{BufReader, Read};
use std::path::Path;

/// How to turn a pimsim-nn file into a program.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Architecture recorded in the program (a preset name or a config path).
    pub arch: String,
    /// Crossbar rows x columns, unless the file's `config.xbar_size` says otherwise.
    pub xbar_size: [u32; 2],
    /// Seed of the generated weights the program names (`weights "seed:N"`).
    pub seed: u64,
    /// Keep the scalar records (`sldi`, ...) as instructions. They only set the registers
    /// that hold addresses, which the importer evaluates, so a program for reading or
    /// re-printing drops them; a timing run keeps them, since each takes a cycle.
    pub keep_scalar: bool,
}

/// Reads a pimsim-nn instruction file, gzipped or plain JSON (told apart by content).
pub fn read(path: &Path, opts: &ImportOptions) -> Result<Program> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| Error::new(format!("cannot read input: {e}")).in_file(&name))?;
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let gzipped = {
        use std::io::BufRead;
        let head = reader.fill_buf().map_err(|e| Error::new(format!("cannot read input: {e}")).in_file(&name))?;
        head.starts_with(&[0x1f, 0x8b])
    };
    // A well-formed file is read by the fast scanner (decompression on its own thread);
    // anything it does not expect, errors included, goes to the serde reader, which says
    // exactly what and where.
    if let Some(parsed) = super::scan::read(path, gzipped, opts.keep_scalar) {
        if let Ok(p) = assemble(parsed, opts) {
            return Ok(p);
        }
    }
    if gzipped {
        let gz = flate2::bufread::MultiGzDecoder::new(reader);
        read_from(BufReader::with_capacity(1 << 16, gz), &name, opts)
    } else {
        read_from(reader, &name, opts)
    }
}

/// Reads an instruction file from `reader` (plain JSON); `name` names it in errors.
pub fn read_from(reader: impl Read, name: &str, opts: &ImportOptions) -> Result<Program> {
    let context = Cell::new(Context::Top);
    let mut de = serde_json::Deserializer::from_reader(reader);
    let parsed = (&mut de)
        .deserialize_map(FileVisitor { context: &context, records: &Cell::new(0), keep_scalar: opts.keep_scalar })
        .and_then(|parsed| de.end().map(|_| parsed))
        .map_err(|e| {
            let what = match context.get() {
                Context::Top => String::new(),
                Context::Config => "config: ".to_string(),
                Context::Record { core, index } => format!("core{core}, instruction {index}: "),
            };
            let cause = if e.is_io() { "cannot read (truncated or corrupt gzip?)" } else { "invalid instruction file" };
            Error::new(format!("{cause}: {what}{e}")).in_file(name)
        })?;
    assemble(parsed, opts).map_err(|e| e.in_file(name))
}

/// Host memory an imported instruction takes (its statement in the core's body).
const STMT_BYTES: u64 = std::mem::size_of::<Stmt>() as u64;

/// Where the parser is, for error messages.
#[derive(Clone, Copy)]
enum Context {
    Top,
    Config,
    Record { core: u32, index: u64 },
}

/// The part of `config` pimlir uses; like pimsim-nn, other keys are ignored.
#[derive(Deserialize, Default)]
pub(super) struct Config {
    core_cnt: Option<u32>,
    #[serde(default)]
    array_group_map: BTreeMap<String, Vec<u32>>,
    xbar_size: Option<[u32; 2]>,
    cell_precision: Option<u32>,
}

/// A record's `op`: an opcode of the instruction table, by its mnemonic.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct Op(pub(super) Opcode);

impl<'de> Deserialize<'de> for Op {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> std::result::Result<Op, D::Error> {
        struct Name;
        impl Visitor<'_> for Name {
            type Value = Op;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an instruction name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Op, E> {
                Opcode::from_mnemonic(v).map(Op).ok_or_else(|| {
                    let names: Vec<String> = Opcode::mnemonics().map(|m| format!("`{m}`")).collect();
                    E::custom(format!("unknown variant `{v}`, expected one of {}", names.join(", ")))
                })
            }
        }
        d.deserialize_str(Name)
    }
}

#[derive(Deserialize, Clone, Copy, Debug, Default)]
pub(super) struct Offset {
    pub(super) offset_select: i64,
    pub(super) offset_value: i64,
}

/// One instruction record; which fields are present depends on `op`.
#[derive(Deserialize, Debug)]
pub(super) struct Record {
    pub(super) op: Op,
    pub(super) rd: Option<i64>,
    pub(super) rs1: Option<i64>,
    pub(super) rs2: Option<i64>,
    /// A number: an integer for the scalar ops (kept exact beyond 2^53), a float for `lldi`.
    pub(super) imm: Option<serde_json::Number>,
    pub(super) len: Option<i64>,
    pub(super) size: Option<i64>,
    pub(super) core: Option<i64>,
    pub(super) group: Option<i64>,
    #[serde(default, deserialize_with = "int_or_bool")]
    pub(super) relu: Option<i64>,
    pub(super) mbiw: Option<i64>,
    pub(super) ibiw: Option<i64>,
    pub(super) obiw: Option<i64>,
    pub(super) offset: Option<Offset>,
    pub(super) wait_value: Option<i64>,
    pub(super) event_register: Option<i64>,
}

fn int_or_bool<'de, D: de::Deserializer<'de>>(d: D) -> std::result::Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum IntOrBool {
        Int(i64),
        Bool(bool),
    }
    Ok(Option::<IntOrBool>::deserialize(d)?.map(|v| match v {
        IntOrBool::Int(i) => i,
        IntOrBool::Bool(b) => b as i64,
    }))
}

/// A core's converted program, with the checks that need the config.
pub(super) struct ParsedCore {
    pub(super) id: u32,
    body: Vec<Stmt>,
    /// (record index, array group, mbiw) of every `mvmul`.
    groups: Vec<(u64, u32, u32)>,
    /// (record index, partner core) of every `send`, `recv` and `sync`.
    partners: Vec<(u64, u32)>,
}

impl ParsedCore {
    pub(super) fn new(id: u32) -> ParsedCore {
        ParsedCore { id, body: vec![], groups: vec![], partners: vec![] }
    }

    /// Converts record `r`, number `index` of this core, with the register file `regs`.
    pub(super) fn push(
        &mut self,
        r: &Record,
        regs: &mut [i64; 32],
        index: u64,
        keep_scalar: bool,
    ) -> std::result::Result<(), String> {
        if let Some(inst) = convert(r, regs, keep_scalar)? {
            match &inst {
                Inst::Mvmul { group, mbiw, .. } => self.groups.push((index, *group, *mbiw)),
                Inst::Send { core: c, .. } | Inst::Recv { core: c, .. } | Inst::Sync { core: c, .. } => {
                    self.partners.push((index, c.0))
                }
                _ => {}
            }
            // The record's number as its line (Program::record_lines).
            self.body.push(Stmt::Inst(inst, Line(u32::try_from(index + 1).unwrap_or(u32::MAX))));
        }
        Ok(())
    }
}

/// The limits after `n` records (checked now and then: they bound the whole file, not each
/// core). Twice the statements' bytes: a growing body may hold that much while it grows.
pub(super) fn check_records(n: u64) -> std::result::Result<(), String> {
    if n.is_power_of_two() || n.is_multiple_of(1 << 20) {
        crate::limits::check_instructions("importing the file", n)
            .and_then(|_| crate::limits::check_memory("importing the file", n.saturating_mul(2 * STMT_BYTES)))
            .map_err(|e| e.to_string().trim_start_matches("error: ").to_string())?;
    }
    Ok(())
}

pub(super) struct Parsed {
    pub(super) config: Config,
    pub(super) cores: Vec<ParsedCore>,
}

struct FileVisitor<'c> {
    context: &'c Cell<Context>,
    /// Instruction records read so far, over all cores: bounded by the limits, so that a
    /// small gzip file cannot expand into billions of instructions.
    records: &'c Cell<u64>,
    keep_scalar: bool,
}

impl<'de> Visitor<'de> for FileVisitor<'_> {
    type Value = Parsed;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a pimsim-nn instruction file: an object with \"config\" and \"core0\", \"core1\", ...")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Parsed, A::Error> {
        let mut config = None;
        let mut cores = vec![];
        let mut ids = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if key == "config" {
                if config.is_some() {
                    return Err(de::Error::custom("\"config\" appears twice"));
                }
                self.context.set(Context::Config);
                config = Some(map.next_value::<Config>()?);
            } else if let Some(id) = core_id(&key) {
                if !ids.insert(id) {
                    return Err(de::Error::custom(format!("\"{key}\" appears twice")));
                }
                cores.push(map.next_value_seed(CoreSeed {
                    id,
                    context: self.context,
                    records: self.records,
                    keep_scalar: self.keep_scalar,
                })?);
            } else {
                return Err(de::Error::custom(format!(
                    "unknown key \"{key}\"; expected \"config\" or \"coreN\" (N a core number)"
                )));
            }
            self.context.set(Context::Top);
        }
        let config = config.ok_or_else(|| de::Error::custom("the file has no \"config\""))?;
        Ok(Parsed { config, cores })
    }
}

/// `"core12"` -> 12.
pub(super) fn core_id(key: &str) -> Option<u32> {
    let digits = key.strip_prefix("core")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || (digits.len() > 1 && digits.starts_with('0'))
    {
        return None;
    }
    digits.parse().ok()
}

struct CoreSeed<'c> {
    id: u32,
    context: &'c Cell<Context>,
    records: &'c Cell<u64>,
    keep_scalar: bool,
}

impl<'de> DeserializeSeed<'de> for CoreSeed<'_> {
    type Value = ParsedCore;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> std::result::Result<ParsedCore, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for CoreSeed<'_> {
    type Value = ParsedCore;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of instruction records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<ParsedCore, A::Error> {
        let mut core = ParsedCore::new(self.id);
        let mut regs = [0i64; 32];
        let mut index = 0u64;
        loop {
            self.context.set(Context::Record { core: self.id, index });
            let Some(r) = seq.next_element::<Record>()? else { break };
            let n = self.records.get() + 1;
            self.records.set(n);
            check_records(n).map_err(de::Error::custom)?;
            core.push(&r, &mut regs, index, self.keep_scalar).map_err(de::Error::custom)?;
            index += 1;
        }
        Ok(core)
    }
}

/// A numeric field of a record.
#[derive(Clone, Copy)]
enum Field {
    Int(i64),
    Float(f64),
}

impl Record {
    /// The field named `name` (the instruction table's pimsim-nn field names).
    fn field(&self, name: &str) -> Option<Field> {
        let int = |v: Option<i64>| v.map(Field::Int);
        match name {
            "rd" => int(self.rd),
            "rs1" => int(self.rs1),
            "rs2" => int(self.rs2),
            "imm" => self.imm.as_ref().map(|n| match n.as_i64() {
                Some(i) => Field::Int(i),
                None => Field::Float(n.as_f64().unwrap_or(f64::NAN)),
            }),
            "len" => int(self.len),
            "size" => int(self.size),
            "core" => int(self.core),
            "group" => int(self.group),
            "relu" => int(self.relu),
            "mbiw" => int(self.mbiw),
            "ibiw" => int(self.ibiw),
            "obiw" => int(self.obiw),
            "wait_value" => int(self.wait_value),
            "event_register" => int(self.event_register),
            _ => None,
        }
    }
}

/// Converts one record, updating the register file; `None` for scalar instructions, which
/// only set registers. Other instructions are read as the instruction table describes them:
/// each address operand from the register its field names, each attribute from its field.
fn convert(r: &Record, regs: &mut [i64; 32], keep_scalar: bool) -> std::result::Result<Option<Inst>, String> {
    let op = r.op.0;
    let info = op.info();
    let m = info.mnemonic;
    let field = |v: Option<i64>, name: &str| v.ok_or_else(|| format!("'{m}' needs the field \"{name}\""));
    let reg = |v: Option<i64>, name: &str| -> std::result::Result<usize, String> {
        let v = field(v, name)?;
        if (0..32).contains(&v) {
            Ok(v as usize)
        } else {
            Err(format!("register {name}={v} is out of range 0..31"))
        }
    };
    if let Some(o) = r.offset {
        if o.offset_value != 0 {
            return Err(format!(
                "address offsets are not supported (offset_select {}, offset_value {}); pimlir imports offset 0 only",
                o.offset_select, o.offset_value
            ));
        }
    }
    let imm_int = || -> std::result::Result<i64, String> {
        match r.field("imm") {
            None => Err(format!("'{m}' needs the field \"imm\"")),
            Some(Field::Int(i)) => Ok(i),
            Some(Field::Float(v)) => Err(format!("\"imm\" is {v}; expected an integer of 64 bits")),
        }
    };
    if let Some(sop) = ScalarOp::from_opcode(op) {
        // Evaluated here; only the fields the op reads must be present.
        let src = |name, v| -> std::result::Result<i64, String> { Ok(regs[reg(v, name)?]) };
        let kept = |imm: i64| -> std::result::Result<Option<Inst>, String> {
            if !keep_scalar {
                return Ok(None);
            }
            let field = |v: Option<i64>, name| v.map_or(Ok(0), |_| reg(v, name).map(|k| k as u8));
            Ok(Some(Inst::Scalar {
                op: sop,
                rd: field(r.rd, "rd")?,
                rs1: field(r.rs1, "rs1")?,
                rs2: field(r.rs2, "rs2")?,
                imm,
            }))
        };
        let (a, b, imm) = match sop {
            ScalarOp::Sld => return kept(0), // a no-op in pimsim-nn
            ScalarOp::Sldi => (0, 0, imm_int()?),
            ScalarOp::Sadd | ScalarOp::Ssub | ScalarOp::Smul => (src("rs1", r.rs1)?, src("rs2", r.rs2)?, 0),
            ScalarOp::Saddi | ScalarOp::Smuli => (src("rs1", r.rs1)?, 0, imm_int()?),
        };
        let rd = reg(r.rd, "rd")?;
        regs[rd] = sop.apply(regs[rd], a, b, imm);
        return kept(imm);
    }
    let mut addrs = smallvec::SmallVec::new();
    for o in info.operands {
        let k = reg(
            r.field(o.pimsim).map(|f| match f {
                Field::Int(i) => i,
                Field::Float(x) => x as i64,
            }),
            o.pimsim,
        )?;
        let a = regs[k];
        if a < 0 {
            return Err(format!("{} is register {k}, which holds the negative address {a}", o.pimsim));
        }
        addrs.push(Addr::abs(a));
    }
    let mut values = smallvec::SmallVec::<[AttrValue; 4]>::new();
    for ai in info.attrs {
        let given = ai.pimsim.and_then(|f| r.field(f));
        let v = match (given, ai.kind) {
            (None, _) => match (ai.default, ai.pimsim) {
                (Some(d), _) => d,
                (None, f) => return Err(format!("'{m}' needs the field \"{}\"", f.unwrap_or(ai.name))),
            },
            (Some(f), AttrKind::F32) => {
                let x = match f {
                    Field::Float(x) => x,
                    Field::Int(i) => i as f64,
                };
                if !x.is_finite() || x.abs() > f32::MAX as f64 {
                    return Err(format!(
                        "\"{}\" is {x:e}; beyond the range of a 32-bit float",
                        ai.pimsim.unwrap_or(ai.name)
                    ));
                }
                AttrValue::Float(x as f32)
            }
            (Some(f), kind) => {
                let i = match f {
                    Field::Int(i) => i,
                    Field::Float(x) if x.fract() == 0.0 && x.abs() <= (1i64 << 53) as f64 => x as i64,
                    Field::Float(x) => {
                        return Err(format!("\"{}\" is {x}; expected an integer", ai.pimsim.unwrap_or("")))
                    }
                };
                if kind == AttrKind::Flag {
                    if i != 0 && i != 1 {
                        return Err(format!("\"{}\" is {i}; expected 0 or 1", ai.pimsim.unwrap_or(ai.name)));
                    }
                    AttrValue::Flag(i != 0)
                } else {
                    AttrValue::Int(i)
                }
            }
        };
        crate::isa::inst::check_attr(ai, v).map_err(|e| match ai.kind {
            AttrKind::U32 | AttrKind::Group | AttrKind::Core => {
                format!("\"{}\" is {}; expected 0..{}", ai.pimsim.unwrap_or(ai.name), v.int(), u32::MAX)
            }
            _ => e,
        })?;
        values.push(v);
    }
    Inst::from_parts(op, addrs, &values).map(Some)
}

/// Builds the program: cores in id order, array-group tables from `config.array_group_map`.
pub(super) fn assemble(parsed: Parsed, opts: &ImportOptions) -> Result<Program> {
    let Parsed { config, mut cores } = parsed;
    let [xbar_rows, xbar_cols] = config.xbar_size.unwrap_or(opts.xbar_size);
    if xbar_rows == 0 || xbar_cols == 0 {
        return Err(Error::new("config.xbar_size must be positive"));
    }
    let mut tables: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for (key, groups) in &config.array_group_map {
        let id = core_id(key)
            .ok_or_else(|| Error::new(format!("config.array_group_map has key \"{key}\"; expected \"coreN\"")))?;
        if let Some(x) = groups.iter().find(|&&x| x == 0) {
            return Err(Error::new(format!("config.array_group_map.{key} lists an array group of {x} crossbars")));
        }
        tables.insert(id, groups.clone());
    }
    cores.sort_by_key(|c| c.id);
    let known: BTreeSet<u32> = cores.iter().map(|c| c.id).collect();
    if let Some(n) = config.core_cnt {
        if let Some(c) = known.iter().chain(tables.keys()).find(|&&c| c >= n) {
            return Err(Error::new(format!(
                "core{c} is outside config.core_cnt = {n} (pimsim-nn would silently skip it)"
            )));
        }
    }
    for c in &cores {
        let n = tables.get(&c.id).map_or(0, |t| t.len());
        if let Some(&(index, g, _)) = c.groups.iter().find(|&&(_, g, _)| g as usize >= n) {
            return Err(Error::new(format!(
                "core{}, instruction {index}: mvmul uses array group {g}, but config.array_group_map.core{} lists {n}",
                c.id, c.id
            )));
        }
        // pimlir's crossbars hold one weight per cell, as in PIMCOMP-NN's files (8-bit cells,
        // mbiw 8): a group of N crossbars then yields N x columns outputs.
        if let Some(cells) = config.cell_precision {
            if let Some(&(index, _, m)) = c.groups.iter().find(|&&(_, _, m)| m != cells) {
                return Err(Error::new(format!(
                    "core{}, instruction {index}: mvmul with mbiw={m} on crossbars of {cells}-bit cells \
                     (config.cell_precision); pimlir models one weight per cell, so mbiw must equal it",
                    c.id
                )));
            }
        }
        if let Some(&(index, p)) = c.partners.iter().find(|&&(_, p)| !known.contains(&p)) {
            return Err(Error::new(format!(
                "core{}, instruction {index}: names core {p}, which has no instructions in the file",
                c.id
            )));
        }
    }
    // Cores with an array-group table but no instructions are kept (they export the same).
    for &id in tables.keys() {
        if !known.contains(&id) {
            cores.push(ParsedCore::new(id));
        }
    }
    cores.sort_by_key(|c| c.id);

    let sizes: BTreeSet<u32> = tables.values().flatten().copied().collect();
    let layers = sizes
        .iter()
        .map(|&x| {
            let name = super::synthetic_layer_name(x);
            let cols = i64::from(xbar_cols) * i64::from(x);
            Layer::fc(&name, &name, false, None, (i64::from(xbar_rows), cols)).map_err(Error::new)
        })
        .collect::<Result<Vec<_>>>()?;
    let cores = cores
        .into_iter()
        .map(|c| {
            let ags = tables
                .get(&c.id)
                .map(|t| {
                    t.iter()
                        .map(|&x| ArrayGroup {
                            layer: super::synthetic_layer_name(x),
                            line: Line::NONE,
                            replica: 0,
                            matrix: 0,
                            row_begin: 0,
                            rows: i64::from(xbar_rows),
                            col_begin: 0,
                            cols: i64::from(xbar_cols) * i64::from(x),
                            xbars: x,
                        })
                        .collect()
                })
                .unwrap_or_default();
            CoreProgram { id: CoreId(c.id), line: Line::NONE, ags, buffers: vec![], body: c.body }
        })
        .collect();
    Ok(Program {
        source: String::new(),
        arch: opts.arch.clone(),
        weights: Some(format!("seed:{}", opts.seed)),
        layers,
        globals: vec![],
        cores,
        comments: Default::default(),
        record_lines: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> ImportOptions {
        ImportOptions { arch: "pimcomp-default".into(), xbar_size: [128, 128], seed: 0, keep_scalar: false }
    }

    fn import(json: &str) -> Result<Program> {
        read_from(json.as_bytes(), "t.json", &opts())
    }

    #[test]
    fn registers_become_addresses() {
        let p = import(
            r#"{"config": {"core_cnt": 1, "array_group_map": {"core0": [2]}},
                "core0": [{"op": "sldi", "rd": 0, "imm": 256}, {"op": "sldi", "rd": 1, "imm": 8},
                          {"op": "saddi", "rd": 1, "rs1": 1, "imm": 4},
                          {"op": "mvmul", "rd": 0, "rs1": 1, "group": 0, "relu": 0, "mbiw": 8}]}"#,
        )
        .unwrap();
        assert_eq!(p.layers[0].name, "pimsim.xbars2");
        assert_eq!(p.layers[0].cols(), 256);
        let Stmt::Inst(Inst::Mvmul { rd, rs1, .. }, _) = &p.cores[0].body[0] else { panic!() };
        assert_eq!((rd.offset, rs1.offset), (256, 12));
    }

    #[test]
    fn errors_name_core_and_record() {
        let e = import(r#"{"config": {"core_cnt": 1}, "core0": [{"op": "sldi", "rd": 40, "imm": 1}]}"#).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("core0, instruction 0") && msg.contains("out of range"), "{msg}");
        let e = import(r#"{"config": {"core_cnt": 1}, "core0": [{"op": "jump"}]}"#).unwrap_err();
        assert!(e.to_string().contains("unknown variant `jump`"), "{e}");
        let e = import(r#"{"config": {"core_cnt": 1}, "core0": [{"op": "mvmul", "rd": 0, "rs1": 0, "group": 3}]}"#)
            .unwrap_err();
        assert!(e.to_string().contains("array group 3"), "{e}");
    }
}
