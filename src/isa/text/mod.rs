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
use rayon::prelude::*;
use std::sync::Arc;

/// Byte offset -> line:col lookup for one source text.
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(src: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(memchr_newlines(src.as_bytes()));
        LineIndex { starts }
    }
    /// 1-based line and column of a byte offset.
    pub fn line_col(&self, offset: usize) -> (u32, u32) {
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        (line as u32, (offset - self.starts[line - 1] + 1) as u32)
    }
}

/// A [`LineIndex`] lookup that remembers its last line: a walk through the source in order
/// mostly moves a line at a time, so it rarely needs the binary search.
pub struct LineCursor<'a> {
    index: &'a LineIndex,
    line: usize,
}

impl<'a> LineCursor<'a> {
    pub fn new(index: &'a LineIndex) -> Self {
        LineCursor { index, line: 1 }
    }
    pub fn line_col(&mut self, offset: usize) -> (u32, u32) {
        let starts = &self.index.starts;
        let within = |l: usize| starts[l - 1] <= offset && starts.get(l).is_none_or(|&next| offset < next);
        if !within(self.line) {
            self.line = if self.line < starts.len() && within(self.line + 1) {
                self.line + 1
            } else {
                starts.partition_point(|&s| s <= offset).max(1)
            };
        }
        (self.line as u32, (offset - starts[self.line - 1] + 1) as u32)
    }
}

/// Offsets just after each newline.
fn memchr_newlines(bytes: &[u8]) -> impl Iterator<Item = usize> + '_ {
    memchr::memchr_iter(b'\n', bytes).map(|i| i + 1)
}

/// Parses `.pim` text; `file` names the source in diagnostics. Reports every syntax error of
/// the file, or else every semantic error.
///
/// The file is cut into pieces at its top-level `core` lines ([`lexer::pieces`]). The first
/// piece (the declarations) is parsed and lowered first; then the cores' pieces are parsed
/// and lowered in parallel, each dropping its syntax tree as soon as it is lowered, so a
/// million-instruction file never holds a million-instruction tree. A file that declares
/// layers or globals after its first core is parsed whole and lowered after.
pub fn parse(src: &str, file: &str) -> Result<crate::isa::Program> {
    let file_name: Arc<str> = file.into();
    let pieces = lexer::pieces(src);
    let (index, first) = rayon::join(|| LineIndex::new(src), || parse_piece(src, pieces[0]));
    let loc = |offset: usize| {
        let (l, c) = index.line_col(offset);
        Loc::new(file_name.clone(), l, c)
    };
    // A piece nested too deeply is reported once (what its parser saw afterwards follows
    // from that).
    let syntax = |errors: Vec<ParseError>| -> Vec<Diagnostic> {
        let deep = |e: &ParseError| matches!(e, lalrpop_util::ParseError::User { error } if error.kind == lexer::LexErrorKind::TooDeep);
        match errors.iter().position(deep) {
            Some(k) => vec![syntax_error(errors.into_iter().nth(k).expect("found"), &loc)],
            None => errors.into_iter().map(|e| syntax_error(e, &loc)).collect(),
        }
    };
    let (first, mut diags) = match first {
        Ok(p) => (Some(p), vec![]),
        Err(e) => (None, syntax(e)),
    };
    let mut parts = vec![];
    if let Some((items, comments)) = first {
        parts.push(lower::lower_part(items, comments, &index, &file_name, None));
    }
    enum Piece<'a> {
        Lowered(Box<lower::Part>),
        /// Declarations after the first core: the whole file must be lowered at once.
        Declarations,
        Syntax(Vec<ParseError<'a>>),
    }
    let decls = parts.first().map(|p: &lower::Part| (&p.prog, lower::Names::of(&p.prog)));
    let rest: Vec<Piece> = pieces[1..]
        .par_iter()
        .map(|&piece| match parse_piece(src, piece) {
            Err(e) => Piece::Syntax(e),
            Ok((items, _)) if items.iter().any(|i| !matches!(i, ast::Item::Core { .. })) => Piece::Declarations,
            Ok((items, comments)) => match &decls {
                Some((prog, globals)) => Piece::Lowered(Box::new(lower::lower_part(
                    items,
                    comments,
                    &index,
                    &file_name,
                    Some((prog, globals)),
                ))),
                None => Piece::Declarations, // only syntax errors are reported then
            },
        })
        .collect();
    drop(decls);
    let mut whole_file = false;
    let mut lowered = vec![];
    for piece in rest {
        match piece {
            Piece::Lowered(p) => lowered.push(*p),
            Piece::Declarations => whole_file = true,
            Piece::Syntax(e) => diags.extend(syntax(e)),
        }
    }
    if !diags.is_empty() {
        return Err(Error::many(diags));
    }
    let mut prog = if whole_file {
        let (items, comments) = parse_piece(src, (0, src.len())).map_err(|e| Error::many(syntax(e)))?;
        lower::lower(items, comments, &index, file)?
    } else {
        parts.extend(lowered);
        lower::join(&mut parts, &index, &file_name)?;
        parts.swap_remove(0).prog
    };
    prog.source = file.to_string();
    Ok(prog)
}

/// Parses the bytes `a..b` of `src` with error recovery: the items and comments, or every
/// syntax error.
fn parse_piece(src: &str, (a, b): (usize, usize)) -> std::result::Result<PieceItems<'_>, Vec<ParseError<'_>>> {
    let (mut comments, mut recovered) = (Vec::new(), Vec::new());
    let tokens = lexer::Tokens::at(&src[a..b], a, &mut comments);
    let result = grammar::FileParser::new().parse(&mut recovered, tokens);
    let mut errors: Vec<ParseError> = recovered.into_iter().map(|e| e.error).collect();
    match result {
        Ok(items) if errors.is_empty() => Ok((items, comments)),
        Ok(_) => Err(errors),
        Err(e) => {
            errors.push(e);
            Err(errors)
        }
    }
}

type PieceItems<'a> = (Vec<ast::Item<'a>>, Vec<lexer::RawComment<'a>>);

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
        User { error } => Diagnostic::error(error.kind.message()).at(loc(error.at)),
    }
}

fn pretty_expected(e: &str) -> String {
    match e {
        "\"\\n\"" => "end of line".into(),
        "Int" => "an integer".into(),
        "Dims" => "dimensions like 3x3".into(),
        "Float" => "a number".into(),
        "RawStr" => "a string".into(),
        "Ident" => "a name".into(),
        "KeyEq" => "an attribute (key=value)".into(),
        "RawLocal" => "a local buffer (@name)".into(),
        "RawGlobal" => "a global buffer ($name)".into(),
        other => format!("'{}'", other.trim_matches('"')),
    }
}

#[cfg(test)]
mod tests;
