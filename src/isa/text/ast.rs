//! Syntax tree of a `.pim` file, as the grammar produces it (before any meaning is checked).
//! Names borrow from the source text; spans are byte ranges into it.

use std::borrow::Cow;

pub type Span = (usize, usize);

#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    Int(i64),
    Float(f64),
    Str(Cow<'a, str>),
    Ident(&'a str),
    Dims(Vec<i64>),
    Range(i64, i64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Attr<'a> {
    pub key: &'a str,
    /// `None` for a bare flag (`relu`, `transposed`).
    pub value: Option<Value<'a>>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Term<'a> {
    Local(Cow<'a, str>),
    Global(Cow<'a, str>),
    Int(i64),
    /// `coeff * var`
    Var(i64, &'a str),
    /// `- @buf`: never valid, kept to report it.
    NegatedBase(Cow<'a, str>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr<'a> {
    /// The first term and the signed rest, in source order (split so that the usual
    /// one-term address allocates nothing).
    pub first: (Term<'a>, Span),
    pub rest: Vec<(Term<'a>, Span)>,
    pub span: Span,
}

impl<'a> Expr<'a> {
    pub fn terms(&self) -> impl Iterator<Item = &(Term<'a>, Span)> {
        std::iter::once(&self.first).chain(&self.rest)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Operand<'a> {
    Addr(Expr<'a>),
    Attr(Attr<'a>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum CoreItem<'a> {
    Ag {
        index: i64,
        layer: Cow<'a, str>,
        attrs: Vec<Attr<'a>>,
        span: Span,
    },
    Buffer {
        name: Cow<'a, str>,
        attrs: Vec<Attr<'a>>,
        span: Span,
    },
    Repeat {
        var: &'a str,
        start: i64,
        end: i64,
        body: Vec<CoreItem<'a>>,
        /// The `repeat ... {` header; `end` is the offset of the closing `}`.
        span: Span,
        end_at: usize,
    },
    Inst {
        mnemonic: &'a str,
        operands: Vec<Operand<'a>>,
        span: Span,
    },
    /// `task NAME replica=N windows=A..B sync`: what the following instructions are for.
    Task {
        name: Cow<'a, str>,
        attrs: Vec<Attr<'a>>,
        span: Span,
    },
    /// A line that failed to parse (already reported).
    Error,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Item<'a> {
    Arch(Cow<'a, str>, Span),
    Weights(Cow<'a, str>, Span),
    Layer {
        name: Cow<'a, str>,
        kind: &'a str,
        attrs: Vec<Attr<'a>>,
        span: Span,
    },
    Global {
        name: Cow<'a, str>,
        attrs: Vec<Attr<'a>>,
        span: Span,
    },
    /// `span` is the `core N {` header; `end_at` the offset of the closing `}`.
    Core {
        id: i64,
        items: Vec<CoreItem<'a>>,
        span: Span,
        end_at: usize,
    },
    Error,
}
