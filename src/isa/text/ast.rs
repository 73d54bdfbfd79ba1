//! Syntax tree of a `.pim` file, as the grammar produces it (before any meaning is checked).
//! Spans are byte ranges into the source.

pub type Span = (usize, usize);

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i64),
    Float(f64),
    Str(String),
    Ident(String),
    Dims(Vec<i64>),
    Range(i64, i64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Attr {
    pub key: String,
    /// `None` for a bare flag (`relu`, `transposed`).
    pub value: Option<Value>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Term {
    Local(String),
    Global(String),
    Int(i64),
    /// `coeff * var`
    Var(i64, String),
    /// `- @buf`: never valid, kept to report it.
    NegatedBase(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// Signed terms, in source order.
    pub terms: Vec<(Term, Span)>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Addr(Expr),
    Attr(Attr),
}

#[derive(Debug, Clone, PartialEq)]
pub enum CoreItem {
    Ag {
        index: i64,
        layer: String,
        attrs: Vec<Attr>,
        span: Span,
    },
    Buffer {
        name: String,
        attrs: Vec<Attr>,
        span: Span,
    },
    Repeat {
        var: String,
        start: i64,
        end: i64,
        body: Vec<CoreItem>,
        span: Span,
    },
    Inst {
        mnemonic: String,
        operands: Vec<Operand>,
        span: Span,
    },
    /// A line that failed to parse (already reported).
    Error,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Arch(String, Span),
    Weights(String, Span),
    Layer { name: String, kind: String, attrs: Vec<Attr>, span: Span },
    Global { name: String, attrs: Vec<Attr>, span: Span },
    Core { id: i64, items: Vec<CoreItem>, span: Span },
    Error,
}
