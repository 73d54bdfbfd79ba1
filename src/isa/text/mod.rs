//! The `.pim` text: a human-readable, hand-editable form of the ISA level.
//!
//! Grammar in `grammar.lalrpop`, tokens in `lexer.rs`; this module checks meaning (names,
//! operand counts, address spaces) while building a [`Program`], and prints one back. The
//! printer's output parses to the same program, and printing is deterministic, so a diff of
//! two `.pim` files shows exactly what an edit changed. See `docs/pim-text.md`.

pub mod ast;
pub mod lexer;
mod lower;
mod print;

lalrpop_util::lalrpop_mod!(
    #[allow(clippy::all, clippy::pedantic, unused_parens)]
    grammar,
    "/isa/text/grammar.rs"
);

use crate::diag::{Diagnostic, Error, Loc, Result};
use lexer::{LexError, Tok};
pub use print::print;

/// Byte offset -> line:col lookup for one source text.
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(src: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(src.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }
    /// 1-based line and column of a byte offset.
    pub fn line_col(&self, offset: usize) -> (u32, u32) {
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        (line as u32, (offset - self.starts[line - 1] + 1) as u32)
    }
}

/// Parses `.pim` text; `file` names the source in diagnostics. Reports every syntax error of
/// the file, or else every semantic error.
pub fn parse(src: &str, file: &str) -> Result<crate::isa::Program> {
    let index = LineIndex::new(src);
    let loc = |offset: usize| {
        let (l, c) = index.line_col(offset);
        Loc::new(file, l, c)
    };
    let toks = normalize_newlines(lexer::tokens(src), src.len());
    let mut recovered = Vec::new();
    let result = grammar::FileParser::new().parse(&mut recovered, toks);
    let mut diags: Vec<Diagnostic> = recovered.into_iter().map(|e| syntax_error(e.error, &loc)).collect();
    let items = match result {
        Ok(items) => items,
        Err(e) => {
            diags.push(syntax_error(e, &loc));
            vec![]
        }
    };
    if !diags.is_empty() {
        return Err(Error::many(diags));
    }
    let mut prog = lower::lower(&items, &loc)?;
    prog.source = file.to_string();
    Ok(prog)
}

type ParseError<'a> = lalrpop_util::ParseError<usize, Tok<'a>, LexError>;

fn syntax_error(e: ParseError<'_>, loc: &impl Fn(usize) -> Loc) -> Diagnostic {
    use lalrpop_util::ParseError::*;
    let expected = |exp: &[String]| -> String {
        let mut names: Vec<String> = exp.iter().map(|e| pretty_expected(e)).collect();
        names.dedup();
        match names.len() {
            0 => String::new(),
            1 => format!("; expected {}", names[0]),
            n if n <= 6 => format!("; expected one of {}", names.join(", ")),
            _ => String::new(),
        }
    };
    match e {
        InvalidToken { location } => Diagnostic::error("invalid character").at(loc(location)),
        UnrecognizedEof { location, expected: exp } => {
            Diagnostic::error(format!("unexpected end of file{}", expected(&exp))).at(loc(location))
        }
        UnrecognizedToken { token: (l, t, _), expected: exp } => {
            Diagnostic::error(format!("unexpected {t}{}", expected(&exp))).at(loc(l))
        }
        ExtraToken { token: (l, t, _) } => Diagnostic::error(format!("unexpected {t}")).at(loc(l)),
        User { error } => Diagnostic::error("invalid token").at(loc(error.at)),
    }
}

fn pretty_expected(e: &str) -> String {
    match e {
        "\"\\n\"" => "end of line".into(),
        "Int" => "an integer".into(),
        "Dims" => "dimensions like 3x3".into(),
        "Float" => "a number".into(),
        "Str" => "a string".into(),
        "Ident" => "a name".into(),
        "Local" => "a local buffer (@name)".into(),
        "Global" => "a global buffer ($name)".into(),
        other => format!("'{}'", other.trim_matches('"')),
    }
}

/// Collapses blank lines, drops newlines after `{` and at the start, and ends every line
/// (including the last) with one newline: the grammar can then treat `\n` as a terminator.
fn normalize_newlines<'a>(
    toks: impl Iterator<Item = Result<(usize, Tok<'a>, usize), LexError>>,
    len: usize,
) -> impl Iterator<Item = Result<(usize, Tok<'a>, usize), LexError>> {
    let mut prev_newline_or_brace = true;
    let mut out = Vec::new();
    for t in toks {
        match &t {
            Ok((_, Tok::Newline, _)) => {
                if prev_newline_or_brace {
                    continue;
                }
                prev_newline_or_brace = true;
            }
            Ok((_, Tok::LBrace, _)) => prev_newline_or_brace = true,
            _ => prev_newline_or_brace = false,
        }
        out.push(t);
    }
    if !prev_newline_or_brace {
        out.push(Ok((len, Tok::Newline, len)));
    }
    out.into_iter()
}

#[cfg(test)]
mod tests;
