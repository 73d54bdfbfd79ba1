//! The instructions of the ISA, each described once.
//!
//! [`TABLE`] holds, for every [`Opcode`]: its mnemonic, its address operands (memory space,
//! read or written, how many bytes they cover), its attributes (kind, default, pimsim-nn
//! field) and the unit that executes it. The `.pim` reader and printer, the MLIR reader and
//! writer, the verifier's address checks, the simulator's effects and the pimsim-nn importer
//! and exporter all work from the table; the typed [`Inst`] enum is what the scheduler builds
//! and the simulator executes, and [`Inst::attrs`] / [`Inst::from_parts`] convert between the
//! two views. A test checks the table against the `pim_isa` IRDL.
//!
//! Adding an instruction: a variant of [`Opcode`] and a row of [`TABLE`], its typed form in
//! [`Inst`] (and the two conversions below), its IRDL op in `dialects/pim_isa.irdl.mlir`, and
//! its semantics in `crate::sim::semantics` (`docs/design.md` walks through an example).

use super::Addr;
use crate::arch::CoreId;
use smallvec::SmallVec;

/// Every instruction, by mnemonic. `TABLE[op as usize]` describes `op`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Opcode {
    Nop,
    Sldi,
    Sld,
    Sadd,
    Ssub,
    Smul,
    Saddi,
    Smuli,
    Setbw,
    Mvmul,
    Vvadd,
    Vvsub,
    Vvmul,
    Vvdmul,
    Vvmax,
    Vvsll,
    Vvsra,
    Vavg,
    Vrelu,
    Vtanh,
    Vsigm,
    Vrsu,
    Vrsl,
    Vvdiv,
    Vexp,
    Vlog,
    Vmv,
    Ld,
    St,
    Lldi,
    Lmv,
    Send,
    Recv,
    Wait,
    Sync,
}

/// Which memory an address operand points into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Space {
    Local,
    Global,
}

/// Whether an operand's memory is read or written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// How many bytes an address operand covers, from the instruction's attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extent {
    /// The named attribute, in bytes.
    Bytes(&'static str),
    /// The named attribute, in elements.
    Elems(&'static str),
    /// One element (a reduction's result).
    OneElem,
    /// `(len - 1) * stride + 1` elements: a strided gather's source.
    Strided { len: &'static str, stride: &'static str },
    /// The rows of the array group named by `group` (a matrix-vector product's input).
    AgRows,
    /// The columns of the array group named by `group` (its output).
    AgCols,
}

/// An address operand.
#[derive(Debug, Clone, Copy)]
pub struct OperandInfo {
    /// What it is, for messages ("destination", "input", ...).
    pub role: &'static str,
    pub space: Space,
    pub access: Access,
    pub extent: Extent,
    /// The register field holding it in a pimsim-nn record.
    pub pimsim: &'static str,
}

/// What values an attribute takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrKind {
    /// 0 ..= u32::MAX
    U32,
    /// Any 64-bit integer.
    I64,
    /// A register or event register, 0 ..= 31.
    Reg,
    /// An index into the core's array-group table.
    Group,
    /// A core of the program.
    Core,
    /// Present or not.
    Flag,
    /// A number (f32).
    F32,
}

/// An attribute's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AttrValue {
    Int(i64),
    Flag(bool),
    Float(f32),
}

impl AttrValue {
    pub fn int(self) -> i64 {
        match self {
            AttrValue::Int(i) => i,
            AttrValue::Flag(b) => b as i64,
            AttrValue::Float(f) => f as i64,
        }
    }
    /// Equal including the float's bits (so -0.0 and NaN payloads count).
    pub fn same(self, other: AttrValue) -> bool {
        match (self, other) {
            (AttrValue::Float(a), AttrValue::Float(b)) => a.to_bits() == b.to_bits(),
            (a, b) => a == b,
        }
    }
}

/// An attribute.
#[derive(Debug, Clone, Copy)]
pub struct AttrInfo {
    pub name: &'static str,
    pub kind: AttrKind,
    /// None: the attribute must be given.
    pub default: Option<AttrValue>,
    /// The field holding it in a pimsim-nn record; None when the format has none (the value
    /// must then be the default to export).
    pub pimsim: Option<&'static str>,
}

/// The unit that executes an instruction (what timing and energy are accounted to).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Unit {
    /// Handled in decode (`nop`, `setbw`).
    Control,
    Scalar,
    Matrix,
    Vector,
    /// Memory and network transfers (`ld st lldi lmv send recv`).
    Transfer,
    /// Event registers (`wait sync`).
    Sync,
}

impl Unit {
    pub const ALL: [Unit; 6] = [Unit::Control, Unit::Scalar, Unit::Matrix, Unit::Vector, Unit::Transfer, Unit::Sync];
    pub fn name(self) -> &'static str {
        match self {
            Unit::Control => "control",
            Unit::Scalar => "scalar",
            Unit::Matrix => "matrix",
            Unit::Vector => "vector",
            Unit::Transfer => "transfer",
            Unit::Sync => "sync",
        }
    }
}

/// One row of the table.
#[derive(Debug)]
pub struct OpInfo {
    pub opcode: Opcode,
    pub mnemonic: &'static str,
    pub operands: &'static [OperandInfo],
    pub attrs: &'static [AttrInfo],
    pub unit: Unit,
    /// pimsim-nn records of this op carry an (all-zero) `offset` object.
    pub pimsim_offset: bool,
    /// A vector-unit extension beyond the published ISA (PUMA's vector unit has them): only
    /// an architecture with `pimlir.vector_extensions` runs it, and pimsim-nn has no form of it.
    pub extension: bool,
}

const fn operand(
    role: &'static str,
    space: Space,
    access: Access,
    extent: Extent,
    pimsim: &'static str,
) -> OperandInfo {
    OperandInfo { role, space, access, extent, pimsim }
}

const fn required(name: &'static str, kind: AttrKind, pimsim: &'static str) -> AttrInfo {
    AttrInfo { name, kind, default: None, pimsim: Some(pimsim) }
}

const fn optional(name: &'static str, kind: AttrKind, default: AttrValue, pimsim: Option<&'static str>) -> AttrInfo {
    AttrInfo { name, kind, default: Some(default), pimsim }
}

use Access::{Read, Write};
use Space::{Global, Local};

const SCALAR_ATTRS: &[AttrInfo] = &[
    required("rd", AttrKind::Reg, "rd"),
    optional("rs1", AttrKind::Reg, AttrValue::Int(0), Some("rs1")),
    optional("rs2", AttrKind::Reg, AttrValue::Int(0), Some("rs2")),
    optional("imm", AttrKind::I64, AttrValue::Int(0), Some("imm")),
];
const VEC2: &[OperandInfo] = &[
    operand("destination", Local, Write, Extent::Elems("len"), "rd"),
    operand("source", Local, Read, Extent::Elems("len"), "rs1"),
    operand("second source", Local, Read, Extent::Elems("len"), "rs2"),
];
const VEC1: &[OperandInfo] = &[
    operand("destination", Local, Write, Extent::Elems("len"), "rd"),
    operand("source", Local, Read, Extent::Elems("len"), "rs1"),
];
const REDUCE2: &[OperandInfo] = &[
    operand("destination", Local, Write, Extent::OneElem, "rd"),
    operand("source", Local, Read, Extent::Elems("len"), "rs1"),
    operand("second source", Local, Read, Extent::Elems("len"), "rs2"),
];
const REDUCE1: &[OperandInfo] = &[
    operand("destination", Local, Write, Extent::OneElem, "rd"),
    operand("source", Local, Read, Extent::Elems("len"), "rs1"),
];
const LEN: &[AttrInfo] = &[required("len", AttrKind::U32, "len")];

const fn scalar(opcode: Opcode, mnemonic: &'static str) -> OpInfo {
    OpInfo {
        opcode,
        mnemonic,
        operands: &[],
        attrs: SCALAR_ATTRS,
        unit: Unit::Scalar,
        pimsim_offset: false,
        extension: false,
    }
}

const fn vector(opcode: Opcode, mnemonic: &'static str, operands: &'static [OperandInfo]) -> OpInfo {
    OpInfo { opcode, mnemonic, operands, attrs: LEN, unit: Unit::Vector, pimsim_offset: true, extension: false }
}

/// A vector-unit extension (see [`OpInfo::extension`]).
const fn extension(opcode: Opcode, mnemonic: &'static str, operands: &'static [OperandInfo]) -> OpInfo {
    OpInfo { extension: true, ..vector(opcode, mnemonic, operands) }
}

/// The instructions, in [`Opcode`] order.
pub static TABLE: [OpInfo; 35] = [
    OpInfo {
        opcode: Opcode::Nop,
        mnemonic: "nop",
        operands: &[],
        attrs: &[],
        unit: Unit::Control,
        pimsim_offset: false,
        extension: false,
    },
    scalar(Opcode::Sldi, "sldi"),
    scalar(Opcode::Sld, "sld"),
    scalar(Opcode::Sadd, "sadd"),
    scalar(Opcode::Ssub, "ssub"),
    scalar(Opcode::Smul, "smul"),
    scalar(Opcode::Saddi, "saddi"),
    scalar(Opcode::Smuli, "smuli"),
    OpInfo {
        opcode: Opcode::Setbw,
        mnemonic: "setbw",
        operands: &[],
        attrs: &[required("ibiw", AttrKind::U32, "ibiw"), required("obiw", AttrKind::U32, "obiw")],
        unit: Unit::Control,
        pimsim_offset: false,
        extension: false,
    },
    OpInfo {
        opcode: Opcode::Mvmul,
        mnemonic: "mvmul",
        operands: &[
            operand("output", Local, Write, Extent::AgCols, "rd"),
            operand("input", Local, Read, Extent::AgRows, "rs1"),
        ],
        attrs: &[
            required("group", AttrKind::Group, "group"),
            optional("relu", AttrKind::Flag, AttrValue::Flag(false), Some("relu")),
            optional("mbiw", AttrKind::U32, AttrValue::Int(0), Some("mbiw")),
        ],
        unit: Unit::Matrix,
        pimsim_offset: false,
        extension: false,
    },
    vector(Opcode::Vvadd, "vvadd", VEC2),
    vector(Opcode::Vvsub, "vvsub", VEC2),
    vector(Opcode::Vvmul, "vvmul", VEC2),
    vector(Opcode::Vvdmul, "vvdmul", REDUCE2),
    vector(Opcode::Vvmax, "vvmax", VEC2),
    vector(Opcode::Vvsll, "vvsll", VEC2),
    vector(Opcode::Vvsra, "vvsra", VEC2),
    vector(Opcode::Vavg, "vavg", REDUCE1),
    vector(Opcode::Vrelu, "vrelu", VEC1),
    vector(Opcode::Vtanh, "vtanh", VEC1),
    vector(Opcode::Vsigm, "vsigm", VEC1),
    vector(Opcode::Vrsu, "vrsu", VEC1),
    vector(Opcode::Vrsl, "vrsl", VEC1),
    extension(Opcode::Vvdiv, "vvdiv", VEC2),
    extension(Opcode::Vexp, "vexp", VEC1),
    extension(Opcode::Vlog, "vlog", VEC1),
    OpInfo {
        opcode: Opcode::Vmv,
        mnemonic: "vmv",
        operands: &[
            operand("destination", Local, Write, Extent::Elems("len"), "rd"),
            operand("source", Local, Read, Extent::Strided { len: "len", stride: "stride" }, "rs1"),
        ],
        // pimsim-nn's vmv copies contiguous elements: no stride field.
        attrs: &[required("len", AttrKind::U32, "len"), optional("stride", AttrKind::U32, AttrValue::Int(1), None)],
        unit: Unit::Vector,
        pimsim_offset: true,
        extension: false,
    },
    OpInfo {
        opcode: Opcode::Ld,
        mnemonic: "ld",
        operands: &[
            operand("local destination", Local, Write, Extent::Bytes("size"), "rd"),
            operand("global source", Global, Read, Extent::Bytes("size"), "rs1"),
        ],
        attrs: &[required("size", AttrKind::U32, "size")],
        unit: Unit::Transfer,
        pimsim_offset: true,
        extension: false,
    },
    OpInfo {
        opcode: Opcode::St,
        mnemonic: "st",
        operands: &[
            operand("global destination", Global, Write, Extent::Bytes("size"), "rd"),
            operand("local source", Local, Read, Extent::Bytes("size"), "rs1"),
        ],
        attrs: &[required("size", AttrKind::U32, "size")],
        unit: Unit::Transfer,
        pimsim_offset: true,
        extension: false,
    },
    // pimsim-nn sizes lldi and lmv by `len` (bytes) and takes lldi's value from `imm`.
    OpInfo {
        opcode: Opcode::Lldi,
        mnemonic: "lldi",
        operands: &[operand("destination", Local, Write, Extent::Bytes("size"), "rd")],
        attrs: &[required("size", AttrKind::U32, "len"), required("value", AttrKind::F32, "imm")],
        unit: Unit::Transfer,
        pimsim_offset: true,
        extension: false,
    },
    OpInfo {
        opcode: Opcode::Lmv,
        mnemonic: "lmv",
        operands: &[
            operand("destination", Local, Write, Extent::Bytes("size"), "rd"),
            operand("source", Local, Read, Extent::Bytes("size"), "rs1"),
        ],
        attrs: &[required("size", AttrKind::U32, "len")],
        unit: Unit::Transfer,
        pimsim_offset: true,
        extension: false,
    },
    // pimsim-nn's send reads its source address from `rd`.
    OpInfo {
        opcode: Opcode::Send,
        mnemonic: "send",
        operands: &[operand("source", Local, Read, Extent::Bytes("size"), "rd")],
        attrs: &[required("core", AttrKind::Core, "core"), required("size", AttrKind::U32, "size")],
        unit: Unit::Transfer,
        pimsim_offset: true,
        extension: false,
    },
    OpInfo {
        opcode: Opcode::Recv,
        mnemonic: "recv",
        operands: &[operand("destination", Local, Write, Extent::Bytes("size"), "rd")],
        attrs: &[required("core", AttrKind::Core, "core"), required("size", AttrKind::U32, "size")],
        unit: Unit::Transfer,
        pimsim_offset: true,
        extension: false,
    },
    OpInfo {
        opcode: Opcode::Wait,
        mnemonic: "wait",
        operands: &[],
        attrs: &[required("event", AttrKind::Reg, "event_register"), required("value", AttrKind::U32, "wait_value")],
        unit: Unit::Sync,
        pimsim_offset: false,
        extension: false,
    },
    OpInfo {
        opcode: Opcode::Sync,
        mnemonic: "sync",
        operands: &[],
        attrs: &[required("event", AttrKind::Reg, "event_register"), required("core", AttrKind::Core, "core")],
        unit: Unit::Sync,
        pimsim_offset: false,
        extension: false,
    },
];

impl Opcode {
    pub fn info(self) -> &'static OpInfo {
        &TABLE[self as usize]
    }
    pub fn mnemonic(self) -> &'static str {
        self.info().mnemonic
    }
    /// The opcode a mnemonic names.
    pub fn from_mnemonic(m: &str) -> Option<Opcode> {
        TABLE.iter().find(|i| i.mnemonic == m).map(|i| i.opcode)
    }
    /// Every mnemonic, in table order (for messages).
    pub fn mnemonics() -> impl Iterator<Item = &'static str> {
        TABLE.iter().map(|i| i.mnemonic)
    }
}

impl OpInfo {
    pub fn attr(&self, name: &str) -> Option<(usize, &AttrInfo)> {
        self.attrs.iter().enumerate().find(|(_, a)| a.name == name)
    }
}

/// Scalar (register) operations: addressing arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScalarOp {
    Sldi,
    Sld,
    Sadd,
    Ssub,
    Smul,
    Saddi,
    Smuli,
}

impl ScalarOp {
    /// The new value of register `rd` (`rd` holding `old`), from `rs1`'s and `rs2`'s values
    /// and the immediate; 64-bit wrapping arithmetic. `sld` leaves the register as it is (it
    /// does nothing in pimsim-nn, and pimlir has no scalar memory).
    pub fn apply(self, old: i64, a: i64, b: i64, imm: i64) -> i64 {
        match self {
            ScalarOp::Sldi => imm,
            ScalarOp::Sld => old,
            ScalarOp::Sadd => a.wrapping_add(b),
            ScalarOp::Ssub => a.wrapping_sub(b),
            ScalarOp::Smul => a.wrapping_mul(b),
            ScalarOp::Saddi => a.wrapping_add(imm),
            ScalarOp::Smuli => a.wrapping_mul(imm),
        }
    }
    pub const ALL: [ScalarOp; 7] = [
        ScalarOp::Sldi,
        ScalarOp::Sld,
        ScalarOp::Sadd,
        ScalarOp::Ssub,
        ScalarOp::Smul,
        ScalarOp::Saddi,
        ScalarOp::Smuli,
    ];
    pub fn opcode(self) -> Opcode {
        match self {
            ScalarOp::Sldi => Opcode::Sldi,
            ScalarOp::Sld => Opcode::Sld,
            ScalarOp::Sadd => Opcode::Sadd,
            ScalarOp::Ssub => Opcode::Ssub,
            ScalarOp::Smul => Opcode::Smul,
            ScalarOp::Saddi => Opcode::Saddi,
            ScalarOp::Smuli => Opcode::Smuli,
        }
    }
    pub fn from_opcode(op: Opcode) -> Option<ScalarOp> {
        ScalarOp::ALL.into_iter().find(|s| s.opcode() == op)
    }
    pub fn from_name(m: &str) -> Option<ScalarOp> {
        Opcode::from_mnemonic(m).and_then(ScalarOp::from_opcode)
    }
    pub fn name(self) -> &'static str {
        self.opcode().mnemonic()
    }
}

/// Element-wise vector operations (lengths in elements).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VecOp {
    /// rd = rs1 + rs2
    Vvadd,
    /// rd = rs1 - rs2
    Vvsub,
    /// rd = rs1 * rs2
    Vvmul,
    /// rd[0] = dot(rs1, rs2)
    Vvdmul,
    /// rd = max(rs1, rs2)
    Vvmax,
    /// rd = rs1 << rs2 (as multiplication by 2^rs2)
    Vvsll,
    /// rd = rs1 >> rs2 (as division by 2^rs2)
    Vvsra,
    /// rd[0] = mean(rs1)
    Vavg,
    Vrelu,
    Vtanh,
    Vsigm,
    /// Resize to a wider bit width (value-preserving).
    Vrsu,
    /// Resize to a narrower bit width (value-preserving in the f32 model).
    Vrsl,
    /// rd = rs1 / rs2 (extension)
    Vvdiv,
    /// rd = exp(rs1) (extension)
    Vexp,
    /// rd = ln(rs1) (extension)
    Vlog,
}

impl VecOp {
    pub const ALL: [VecOp; 16] = [
        VecOp::Vvadd,
        VecOp::Vvsub,
        VecOp::Vvmul,
        VecOp::Vvdmul,
        VecOp::Vvmax,
        VecOp::Vvsll,
        VecOp::Vvsra,
        VecOp::Vavg,
        VecOp::Vrelu,
        VecOp::Vtanh,
        VecOp::Vsigm,
        VecOp::Vrsu,
        VecOp::Vrsl,
        VecOp::Vvdiv,
        VecOp::Vexp,
        VecOp::Vlog,
    ];
    pub fn opcode(self) -> Opcode {
        match self {
            VecOp::Vvadd => Opcode::Vvadd,
            VecOp::Vvsub => Opcode::Vvsub,
            VecOp::Vvmul => Opcode::Vvmul,
            VecOp::Vvdmul => Opcode::Vvdmul,
            VecOp::Vvmax => Opcode::Vvmax,
            VecOp::Vvsll => Opcode::Vvsll,
            VecOp::Vvsra => Opcode::Vvsra,
            VecOp::Vavg => Opcode::Vavg,
            VecOp::Vrelu => Opcode::Vrelu,
            VecOp::Vtanh => Opcode::Vtanh,
            VecOp::Vsigm => Opcode::Vsigm,
            VecOp::Vrsu => Opcode::Vrsu,
            VecOp::Vrsl => Opcode::Vrsl,
            VecOp::Vvdiv => Opcode::Vvdiv,
            VecOp::Vexp => Opcode::Vexp,
            VecOp::Vlog => Opcode::Vlog,
        }
    }
    pub fn from_opcode(op: Opcode) -> Option<VecOp> {
        VecOp::ALL.into_iter().find(|v| v.opcode() == op)
    }
    pub fn from_name(m: &str) -> Option<VecOp> {
        Opcode::from_mnemonic(m).and_then(VecOp::from_opcode)
    }
    pub fn name(self) -> &'static str {
        self.opcode().mnemonic()
    }
    /// A vector-unit extension (see [`OpInfo::extension`]).
    pub fn is_extension(self) -> bool {
        self.opcode().info().extension
    }
    /// Two-source ops read `rs2`.
    pub fn binary(self) -> bool {
        self.opcode().info().operands.len() == 3
    }
    /// Elements written (reductions write one).
    pub fn out_len(self, len: u32) -> u32 {
        if self.opcode().info().operands[0].extent == Extent::OneElem {
            1
        } else {
            len
        }
    }
}

/// One instruction. Vector/matrix lengths count elements; memory and transfer sizes count bytes.
#[derive(Debug, Clone, PartialEq)]
pub enum Inst {
    Nop,
    Scalar {
        op: ScalarOp,
        rd: u8,
        rs1: u8,
        rs2: u8,
        imm: i64,
    },
    SetBw {
        ibiw: u32,
        obiw: u32,
    },
    /// LMem[rd..] = AG `group` x LMem[rs1..] (input length = AG rows, output = its columns).
    Mvmul {
        rd: Addr,
        rs1: Addr,
        group: u32,
        relu: bool,
        mbiw: u32,
    },
    Vec {
        op: VecOp,
        rd: Addr,
        rs1: Addr,
        rs2: Option<Addr>,
        len: u32,
    },
    /// Strided gather: rd[i] = rs1[i * stride] for i < len (stride in elements).
    Vmv {
        rd: Addr,
        rs1: Addr,
        len: u32,
        stride: u32,
    },
    /// GMem -> LMem
    Ld {
        rd: Addr,
        rs1: Addr,
        size: u32,
    },
    /// LMem -> GMem
    St {
        rd: Addr,
        rs1: Addr,
        size: u32,
    },
    /// Fill `size` bytes of LMem at rd with the value.
    Lldi {
        rd: Addr,
        size: u32,
        value: f32,
    },
    /// LMem -> LMem copy
    Lmv {
        rd: Addr,
        rs1: Addr,
        size: u32,
    },
    Send {
        rs1: Addr,
        core: CoreId,
        size: u32,
    },
    Recv {
        rd: Addr,
        core: CoreId,
        size: u32,
    },
    Wait {
        event: u8,
        value: i64,
    },
    Sync {
        event: u8,
        core: CoreId,
    },
}

impl Inst {
    pub fn opcode(&self) -> Opcode {
        match self {
            Inst::Nop => Opcode::Nop,
            Inst::Scalar { op, .. } => op.opcode(),
            Inst::SetBw { .. } => Opcode::Setbw,
            Inst::Mvmul { .. } => Opcode::Mvmul,
            Inst::Vec { op, .. } => op.opcode(),
            Inst::Vmv { .. } => Opcode::Vmv,
            Inst::Ld { .. } => Opcode::Ld,
            Inst::St { .. } => Opcode::St,
            Inst::Lldi { .. } => Opcode::Lldi,
            Inst::Lmv { .. } => Opcode::Lmv,
            Inst::Send { .. } => Opcode::Send,
            Inst::Recv { .. } => Opcode::Recv,
            Inst::Wait { .. } => Opcode::Wait,
            Inst::Sync { .. } => Opcode::Sync,
        }
    }

    pub fn info(&self) -> &'static OpInfo {
        self.opcode().info()
    }

    pub fn mnemonic(&self) -> &'static str {
        self.opcode().mnemonic()
    }

    /// The instruction's addresses, in operand order (the table's `operands`).
    pub fn addrs(&self) -> SmallVec<[&Addr; 3]> {
        match self {
            Inst::Mvmul { rd, rs1, .. }
            | Inst::Vmv { rd, rs1, .. }
            | Inst::Ld { rd, rs1, .. }
            | Inst::St { rd, rs1, .. }
            | Inst::Lmv { rd, rs1, .. } => smallvec::smallvec![rd, rs1],
            Inst::Vec { rd, rs1, rs2, .. } => {
                let mut v: SmallVec<[&Addr; 3]> = smallvec::smallvec![rd, rs1];
                v.extend(rs2.iter());
                v
            }
            Inst::Lldi { rd, .. } | Inst::Recv { rd, .. } => smallvec::smallvec![rd],
            Inst::Send { rs1, .. } => smallvec::smallvec![rs1],
            Inst::Nop | Inst::Scalar { .. } | Inst::SetBw { .. } | Inst::Wait { .. } | Inst::Sync { .. } => {
                SmallVec::new()
            }
        }
    }

    pub fn addrs_mut(&mut self) -> SmallVec<[&mut Addr; 3]> {
        match self {
            Inst::Mvmul { rd, rs1, .. }
            | Inst::Vmv { rd, rs1, .. }
            | Inst::Ld { rd, rs1, .. }
            | Inst::St { rd, rs1, .. }
            | Inst::Lmv { rd, rs1, .. } => smallvec::smallvec![rd, rs1],
            Inst::Vec { rd, rs1, rs2, .. } => {
                let mut v: SmallVec<[&mut Addr; 3]> = smallvec::smallvec![rd, rs1];
                v.extend(rs2.iter_mut());
                v
            }
            Inst::Lldi { rd, .. } | Inst::Recv { rd, .. } => smallvec::smallvec![rd],
            Inst::Send { rs1, .. } => smallvec::smallvec![rs1],
            Inst::Nop | Inst::Scalar { .. } | Inst::SetBw { .. } | Inst::Wait { .. } | Inst::Sync { .. } => {
                SmallVec::new()
            }
        }
    }

    /// The attribute values, in the table's order.
    pub fn attrs(&self) -> SmallVec<[AttrValue; 4]> {
        use AttrValue::{Flag, Float, Int};
        let u = |x: u32| Int(i64::from(x));
        match *self {
            Inst::Nop => SmallVec::new(),
            Inst::Scalar { rd, rs1, rs2, imm, .. } => {
                smallvec::smallvec![Int(rd.into()), Int(rs1.into()), Int(rs2.into()), Int(imm)]
            }
            Inst::SetBw { ibiw, obiw } => smallvec::smallvec![u(ibiw), u(obiw)],
            Inst::Mvmul { group, relu, mbiw, .. } => smallvec::smallvec![u(group), Flag(relu), u(mbiw)],
            Inst::Vec { len, .. } => smallvec::smallvec![u(len)],
            Inst::Vmv { len, stride, .. } => smallvec::smallvec![u(len), u(stride)],
            Inst::Ld { size, .. } | Inst::St { size, .. } | Inst::Lmv { size, .. } => smallvec::smallvec![u(size)],
            Inst::Lldi { size, value, .. } => smallvec::smallvec![u(size), Float(value)],
            Inst::Send { core, size, .. } | Inst::Recv { core, size, .. } => smallvec::smallvec![u(core.0), u(size)],
            Inst::Wait { event, value } => smallvec::smallvec![Int(event.into()), Int(value)],
            Inst::Sync { event, core } => smallvec::smallvec![Int(event.into()), u(core.0)],
        }
    }

    /// Bytes address operand `k` covers, by the table's extent rule: `eb` is the element size,
    /// `ag` the array group the instruction's `group` names (for `mvmul`). Saturates rather
    /// than overflows on absurd values (the caller checks them against memory).
    pub fn operand_bytes(&self, k: usize, eb: i64, ag: Option<&super::ArrayGroup>) -> i64 {
        let info = self.info();
        let values = self.attrs();
        let attr = |name: &str| info.attr(name).map_or(0, |(i, _)| values[i].int());
        match info.operands.get(k).map(|o| o.extent) {
            None => 0,
            Some(Extent::Bytes(n)) => attr(n),
            Some(Extent::Elems(n)) => attr(n).saturating_mul(eb),
            Some(Extent::OneElem) => eb,
            Some(Extent::Strided { len, stride }) => {
                (attr(len) - 1).max(0).saturating_mul(attr(stride)).saturating_add(1).saturating_mul(eb)
            }
            Some(Extent::AgRows) => ag.map_or(0, |g| g.rows.saturating_mul(eb)),
            Some(Extent::AgCols) => ag.map_or(0, |g| g.cols.saturating_mul(eb)),
        }
    }

    /// The instruction `op` with these addresses (the table's operands, in order) and
    /// attribute values (the table's attributes, in order, of their kinds and ranges). A
    /// caller that checked the parts against the table gets `Ok`; the error says what
    /// does not fit.
    pub fn from_parts(op: Opcode, addrs: SmallVec<[Addr; 3]>, attrs: &[AttrValue]) -> Result<Inst, String> {
        let info = op.info();
        if addrs.len() != info.operands.len() || attrs.len() != info.attrs.len() {
            return Err(format!(
                "'{}' takes {} address operand(s) and {} attribute(s), got {} and {}",
                info.mnemonic,
                info.operands.len(),
                info.attrs.len(),
                addrs.len(),
                attrs.len()
            ));
        }
        for (a, v) in info.attrs.iter().zip(attrs) {
            check_attr(a, *v)?;
        }
        let int = |k: usize| attrs[k].int();
        let u = |k: usize| int(k) as u32;
        let mut it = addrs.into_iter();
        let mut addr = || it.next().expect("counted above");
        Ok(match op {
            Opcode::Nop => Inst::Nop,
            Opcode::Setbw => Inst::SetBw { ibiw: u(0), obiw: u(1) },
            Opcode::Mvmul => Inst::Mvmul {
                rd: addr(),
                rs1: addr(),
                group: u(0),
                relu: matches!(attrs[1], AttrValue::Flag(true)),
                mbiw: u(2),
            },
            Opcode::Vmv => Inst::Vmv { rd: addr(), rs1: addr(), len: u(0), stride: u(1) },
            Opcode::Ld => Inst::Ld { rd: addr(), rs1: addr(), size: u(0) },
            Opcode::St => Inst::St { rd: addr(), rs1: addr(), size: u(0) },
            Opcode::Lmv => Inst::Lmv { rd: addr(), rs1: addr(), size: u(0) },
            Opcode::Lldi => {
                let AttrValue::Float(value) = attrs[1] else { unreachable!("checked to be a float") };
                Inst::Lldi { rd: addr(), size: u(0), value }
            }
            Opcode::Send => Inst::Send { rs1: addr(), core: CoreId(u(0)), size: u(1) },
            Opcode::Recv => Inst::Recv { rd: addr(), core: CoreId(u(0)), size: u(1) },
            Opcode::Wait => Inst::Wait { event: int(0) as u8, value: int(1) },
            Opcode::Sync => Inst::Sync { event: int(0) as u8, core: CoreId(u(1)) },
            _ => {
                if let Some(vop) = VecOp::from_opcode(op) {
                    let rd = addr();
                    let rs1 = addr();
                    let rs2 = vop.binary().then(addr);
                    Inst::Vec { op: vop, rd, rs1, rs2, len: u(0) }
                } else if let Some(sop) = ScalarOp::from_opcode(op) {
                    Inst::Scalar { op: sop, rd: int(0) as u8, rs1: int(1) as u8, rs2: int(2) as u8, imm: int(3) }
                } else {
                    unreachable!("every opcode is built above")
                }
            }
        })
    }
}

/// Checks a value against an attribute's kind and range.
pub fn check_attr(a: &AttrInfo, v: AttrValue) -> Result<(), String> {
    let name = a.name;
    match (a.kind, v) {
        (AttrKind::Flag, AttrValue::Flag(_))
        | (AttrKind::F32, AttrValue::Float(_))
        | (AttrKind::I64, AttrValue::Int(_)) => Ok(()),
        (AttrKind::U32 | AttrKind::Group | AttrKind::Core, AttrValue::Int(i)) => {
            if (0..=i64::from(u32::MAX)).contains(&i) {
                Ok(())
            } else {
                Err(format!("'{name}' = {i} is out of range (0..={})", u32::MAX))
            }
        }
        (AttrKind::Reg, AttrValue::Int(i)) => {
            if (0..32).contains(&i) {
                Ok(())
            } else {
                Err(format!(
                    "{} {i} does not exist (registers are 0..31)",
                    if name == "event" { "event register" } else { "register" }
                ))
            }
        }
        (AttrKind::Flag, _) => Err(format!("'{name}' is a flag")),
        (AttrKind::F32, _) => Err(format!("'{name}' must be a number")),
        _ => Err(format!("'{name}' must be an integer")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_in_opcode_order_and_names_are_unique() {
        for (k, row) in TABLE.iter().enumerate() {
            assert_eq!(row.opcode as usize, k, "{}", row.mnemonic);
            assert_eq!(Opcode::from_mnemonic(row.mnemonic), Some(row.opcode));
        }
    }

    /// Every opcode converts to parts and back, with defaults and required values.
    #[test]
    fn parts_round_trip() {
        for row in &TABLE {
            let addrs: SmallVec<[Addr; 3]> =
                (0..row.operands.len()).map(|k| Addr::local(k as u32, 4 * k as i64)).collect();
            let attrs: Vec<AttrValue> = row
                .attrs
                .iter()
                .map(|a| match a.kind {
                    AttrKind::Flag => AttrValue::Flag(true),
                    AttrKind::F32 => AttrValue::Float(0.5),
                    AttrKind::Reg => AttrValue::Int(3),
                    _ => AttrValue::Int(7),
                })
                .collect();
            let i = Inst::from_parts(row.opcode, addrs.clone(), &attrs).unwrap();
            assert_eq!(i.opcode(), row.opcode);
            assert_eq!(i.addrs().into_iter().cloned().collect::<SmallVec<[Addr; 3]>>(), addrs);
            assert!(i.attrs().iter().zip(&attrs).all(|(a, b)| a.same(*b)), "{}", row.mnemonic);
        }
        assert!(Inst::from_parts(Opcode::Wait, SmallVec::new(), &[AttrValue::Int(40), AttrValue::Int(1)])
            .unwrap_err()
            .contains("event register 40 does not exist"));
    }

    /// Each table row matches its op in the pim_isa IRDL: the same address operands (one
    /// `index` each) and the same attribute names.
    #[test]
    fn the_table_matches_the_irdl() {
        let irdl = include_str!("../../dialects/pim_isa.irdl.mlir");
        for row in &TABLE {
            let start = irdl
                .find(&format!("irdl.operation @{} {{", row.mnemonic))
                .unwrap_or_else(|| panic!("no IRDL op for '{}'", row.mnemonic));
            let body = &irdl[start..start + irdl[start..].find("\n  }").expect("op body ends")];
            let operands = body
                .lines()
                .find(|l| l.trim_start().starts_with("irdl.operands("))
                .map_or(0, |l| l.matches(':').count());
            assert_eq!(operands, row.operands.len(), "operands of {}", row.mnemonic);
            let mut names: Vec<&str> = body
                .lines()
                .find(|l| l.trim_start().starts_with("irdl.attributes"))
                .map(|l| l.split('"').skip(1).step_by(2).collect())
                .unwrap_or_default();
            let mut want: Vec<&str> = row.attrs.iter().map(|a| a.name).collect();
            names.sort_unstable();
            want.sort_unstable();
            assert_eq!(names, want, "attributes of {}", row.mnemonic);
        }
    }
}
