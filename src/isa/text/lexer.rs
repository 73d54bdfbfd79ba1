//! Tokens of the `.pim` text (logos), fed to the lalrpop grammar with byte spans.

use logos::Logos;
use std::borrow::Cow;
use std::fmt;

#[derive(Logos, Debug, Clone, PartialEq)]
// U+FEFF: a byte-order mark some editors put at the start of a file.
#[logos(skip r"[ \t\r\f\u{FEFF}]+")]
pub enum Tok<'a> {
    #[token("\n")]
    Newline,
    /// `// ...` to the end of the line; the text after `//`. Kept aside by [`Tokens`], never
    /// seen by the grammar.
    #[regex(r"//[^\n]*", |lex| &lex.slice()[2..], allow_greedy = true)]
    Comment(&'a str),
    #[token("{")]
    LBrace,
    #[token("}")]
    RBrace,
    #[token(",")]
    Comma,
    #[token("=")]
    Eq,
    #[token("+")]
    Plus,
    #[token("-")]
    Minus,
    #[token("*")]
    Star,
    #[token("..")]
    DotDot,

    #[token("arch")]
    KwArch,
    #[token("weights")]
    KwWeights,
    #[token("layer")]
    KwLayer,
    #[token("global")]
    KwGlobal,
    #[token("core")]
    KwCore,
    #[token("ag")]
    KwAg,
    #[token("buffer")]
    KwBuffer,
    #[token("repeat")]
    KwRepeat,
    #[token("task")]
    KwTask,
    #[token("in")]
    KwIn,

    #[regex(r"[0-9]+", |lex| lex.slice().parse::<i64>().ok())]
    Int(i64),
    /// `5x5`, `1x1x28x28`: a shape or kernel size.
    #[regex(r"[0-9]+(x[0-9]+)+")]
    Dims(&'a str),
    #[regex(r"[0-9]+\.[0-9]+([eE][-+]?[0-9]+)?", |lex| lex.slice().parse::<f64>().ok())]
    #[regex(r"[0-9]+[eE][-+]?[0-9]+", |lex| lex.slice().parse::<f64>().ok())]
    Float(f64),
    /// The text between the quotes, escapes not yet resolved (see [`unescape`]).
    #[regex(r#""([^"\\\n]|\\.)*""#, |lex| &lex.slice()[1..lex.slice().len() - 1])]
    Str(&'a str),
    #[regex(r"[A-Za-z_][A-Za-z0-9_.]*")]
    Ident(&'a str),
    /// `key=` without spaces, the usual start of an attribute (one token instead of two).
    #[regex(r"[A-Za-z_][A-Za-z0-9_]*=", |lex| &lex.slice()[..lex.slice().len() - 1])]
    KeyEq(&'a str),
    /// `@name` or `@"any name"`: a local buffer.
    /// The name after `@`, quotes included when quoted (see [`name_text`]).
    #[regex(r"@[A-Za-z_][A-Za-z0-9_.]*", |lex| &lex.slice()[1..])]
    #[regex(r#"@"([^"\\\n]|\\.)*""#, |lex| &lex.slice()[1..])]
    Local(&'a str),
    /// `$name` or `$"any name"`: a global buffer.
    /// The name after `$`, quotes included when quoted (see [`name_text`]).
    #[regex(r"\$[A-Za-z_][A-Za-z0-9_.]*", |lex| &lex.slice()[1..])]
    #[regex(r#"\$"([^"\\\n]|\\.)*""#, |lex| &lex.slice()[1..])]
    Global(&'a str),
}

/// The name of a buffer token: a bare name as is, a quoted one unescaped.
pub fn name_text(raw: &str) -> Option<Cow<'_, str>> {
    match raw.strip_prefix('"') {
        Some(q) => unescape(&q[..q.len() - 1]),
        None => Some(Cow::Borrowed(raw)),
    }
}

/// `5x5` -> [5, 5] (`None` on overflow).
pub fn dims(raw: &str) -> Option<Vec<i64>> {
    raw.split('x').map(|d| d.parse::<i64>().ok()).collect()
}

/// The text of a quoted string; borrowed unless it has escapes. `None` for an unknown escape.
pub fn unescape(s: &str) -> Option<Cow<'_, str>> {
    if !s.contains('\\') {
        return Some(Cow::Borrowed(s));
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                c @ ('\\' | '"') => out.push(c),
                _ => return None,
            }
        } else {
            out.push(c);
        }
    }
    Some(Cow::Owned(out))
}

const KEYWORDS: &[&str] = &["arch", "weights", "layer", "global", "core", "ag", "buffer", "repeat", "task", "in"];

/// Quotes a name unless it lexes as a bare identifier.
pub fn quote_name(name: &str) -> String {
    let bare = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        && !name.ends_with('.')
        && !name.contains("..")
        && !KEYWORDS.contains(&name);
    if bare {
        name.to_string()
    } else {
        quote_str(name)
    }
}

pub fn quote_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl fmt::Display for Tok<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Newline => write!(f, "end of line"),
            Tok::Comment(_) => write!(f, "comment"),
            Tok::LBrace => write!(f, "'{{'"),
            Tok::RBrace => write!(f, "'}}'"),
            Tok::Comma => write!(f, "','"),
            Tok::Eq => write!(f, "'='"),
            Tok::Plus => write!(f, "'+'"),
            Tok::Minus => write!(f, "'-'"),
            Tok::Star => write!(f, "'*'"),
            Tok::DotDot => write!(f, "'..'"),
            Tok::KwArch => write!(f, "'arch'"),
            Tok::KwWeights => write!(f, "'weights'"),
            Tok::KwLayer => write!(f, "'layer'"),
            Tok::KwGlobal => write!(f, "'global'"),
            Tok::KwCore => write!(f, "'core'"),
            Tok::KwAg => write!(f, "'ag'"),
            Tok::KwBuffer => write!(f, "'buffer'"),
            Tok::KwRepeat => write!(f, "'repeat'"),
            Tok::KwTask => write!(f, "'task'"),
            Tok::KwIn => write!(f, "'in'"),
            Tok::Int(i) => write!(f, "integer {i}"),
            Tok::Dims(d) => write!(f, "dimensions {d}"),
            Tok::Float(x) => write!(f, "number {x}"),
            Tok::Str(s) => write!(f, "string \"{s}\""),
            Tok::Ident(s) => write!(f, "'{s}'"),
            Tok::KeyEq(s) => write!(f, "'{s}='"),
            Tok::Local(s) => write!(f, "'@{s}'"),
            Tok::Global(s) => write!(f, "'${s}'"),
        }
    }
}

/// A lexing error at a byte offset.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LexError {
    pub at: usize,
    pub kind: LexErrorKind,
}

/// What is wrong with a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LexErrorKind {
    /// Not a token at all.
    #[default]
    Invalid,
    /// Digits beyond 64 bits.
    IntegerTooLarge,
    /// A `"` with no closing `"` on its line.
    UnterminatedString,
    /// A string with an escape other than `\n`, `\t`, `\\` and `\"`.
    BadEscape,
    /// A character no token starts with.
    Unexpected(char),
    /// Braces nested deeper than loops may be.
    TooDeep,
}

impl LexErrorKind {
    pub fn message(self) -> String {
        match self {
            LexErrorKind::Invalid => "invalid token".into(),
            LexErrorKind::Unexpected(c) => format!("unexpected character {c:?}"),
            LexErrorKind::IntegerTooLarge => {
                "integer too large: integers are 64-bit, of magnitude at most 2^63 - 1".into()
            }
            LexErrorKind::UnterminatedString => "unterminated string (a string ends with '\"' on its line)".into(),
            LexErrorKind::BadEscape => "unknown escape in string (\\n, \\t, \\\\ and \\\" are allowed)".into(),
            LexErrorKind::TooDeep => {
                format!("braces nested too deeply: a core's loops may nest {} deep", crate::isa::MAX_LOOP_DEPTH)
            }
        }
    }
}

/// Byte ranges of the top-level pieces of `src` that parse independently (and so in
/// parallel): a piece starts at each line that begins with `core` in its first column, as
/// printed programs have it. Splitting is only an optimization: a brace left open before
/// such a line is reported either way, as the end of its piece instead of at the `core`.
pub fn pieces(src: &str) -> Vec<(usize, usize)> {
    let b = src.as_bytes();
    let mut starts = vec![0];
    for i in memchr::memmem::find_iter(b, b"\ncore") {
        let after = b.get(i + 5).copied().unwrap_or(b' ');
        if !(after.is_ascii_alphanumeric() || after == b'_' || after == b'.') {
            starts.push(i + 1);
        }
    }
    let mut out: Vec<(usize, usize)> = starts.windows(2).map(|w| (w[0], w[1])).collect();
    out.push((*starts.last().expect("starts with 0"), src.len()));
    out
}

/// A comment of the source, kept aside while the grammar sees the other tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct RawComment<'a> {
    /// Byte offset of the `//`.
    pub at: usize,
    /// The text after `//`, verbatim.
    pub text: &'a str,
    /// Whether something else precedes it on its line.
    pub trailing: bool,
}

type Spanned<'a> = Result<(usize, Tok<'a>, usize), LexError>;

/// The token stream the grammar reads, produced lazily: comments go to `comments`, blank lines
/// collapse, newlines right after `{` or at the start vanish, and every line (the last too)
/// ends with one newline, so the grammar can treat a newline as a terminator.
pub struct Tokens<'a, 'c> {
    lexer: logos::SpannedIter<'a, Tok<'a>>,
    /// Offset of the lexed text in the file (when lexing one piece of it).
    base: usize,
    comments: &'c mut Vec<RawComment<'a>>,
    len: usize,
    /// The last token passed on was a newline or `{` (or nothing yet).
    after_break: bool,
    /// A token other than a newline was seen on the current line.
    line_has_token: bool,
    done: bool,
    /// Open braces.
    depth: usize,
}

impl<'a, 'c> Tokens<'a, 'c> {
    pub fn new(src: &'a str, comments: &'c mut Vec<RawComment<'a>>) -> Self {
        Self::at(src, 0, comments)
    }

    /// Tokens of `piece`, which starts at byte `base` of its file.
    pub fn at(piece: &'a str, base: usize, comments: &'c mut Vec<RawComment<'a>>) -> Self {
        Tokens {
            lexer: Tok::lexer(piece).spanned(),
            base,
            comments,
            len: base + piece.len(),
            after_break: true,
            line_has_token: false,
            done: false,
            depth: 0,
        }
    }
}

impl<'a> Iterator for Tokens<'a, '_> {
    type Item = Spanned<'a>;

    fn next(&mut self) -> Option<Spanned<'a>> {
        loop {
            let Some((t, mut span)) = self.lexer.next() else {
                if self.done || self.after_break {
                    return None;
                }
                self.done = true;
                self.after_break = true;
                return Some(Ok((self.len, Tok::Newline, self.len)));
            };
            span.start += self.base;
            span.end += self.base;
            let t = match t {
                Ok(t) => t,
                Err(()) => {
                    self.after_break = false;
                    let text = &self.lexer.source()[span.start - self.base..];
                    let kind = if text.starts_with(|c: char| c.is_ascii_digit()) {
                        LexErrorKind::IntegerTooLarge
                    } else if text.starts_with('"') || text.starts_with("@\"") || text.starts_with("$\"") {
                        LexErrorKind::UnterminatedString
                    } else if let Some(c) = text.chars().next() {
                        LexErrorKind::Unexpected(c)
                    } else {
                        LexErrorKind::Invalid
                    };
                    return Some(Err(LexError { at: span.start, kind }));
                }
            };
            match t {
                Tok::Comment(text) => {
                    self.comments.push(RawComment { at: span.start, text, trailing: self.line_has_token });
                    continue;
                }
                Tok::Newline => {
                    self.line_has_token = false;
                    if self.after_break {
                        continue;
                    }
                    self.after_break = true;
                }
                Tok::LBrace => {
                    self.after_break = true;
                    self.line_has_token = true;
                    // A core and its loops; deeper nesting would only exhaust the stack.
                    self.depth += 1;
                    if self.depth > crate::isa::MAX_LOOP_DEPTH + 1 {
                        self.done = true;
                        // The rest of the piece is not read: its errors would follow from this one.
                        while self.lexer.next().is_some() {}
                        return Some(Err(LexError { at: span.start, kind: LexErrorKind::TooDeep }));
                    }
                }
                Tok::RBrace => {
                    self.depth = self.depth.saturating_sub(1);
                    self.after_break = false;
                    self.line_has_token = true;
                }
                _ => {
                    self.after_break = false;
                    self.line_has_token = true;
                }
            }
            return Some(Ok((span.start, t, span.end)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok<'_>> {
        Tok::lexer(s).map(|t| t.unwrap()).filter(|t| !matches!(t, Tok::Comment(_))).collect()
    }

    #[test]
    fn pieces_start_at_top_level_cores() {
        let src = "arch \"a\"\ncore 0 {\n  repeat i in 0..2 {\n  }\n}\n// core 9 { in a comment\ncore 1 {\n}\ncores\ncore 2 {}\n";
        let p = pieces(src);
        let starts: Vec<&str> = p.iter().map(|&(a, b)| src[a..b].split('\n').next().unwrap()).collect();
        assert_eq!(starts, vec!["arch \"a\"", "core 0 {", "core 1 {", "core 2 {}"]);
        assert_eq!(p.last().unwrap().1, src.len());
    }

    #[test]
    fn comments_are_kept_aside_and_lines_normalized() {
        let mut comments = vec![];
        let src = "// head\n\ncore 0 { // open\n  nop // tail\n}";
        let toks: Vec<Tok> = Tokens::new(src, &mut comments).map(|t| t.unwrap().1).collect();
        assert_eq!(
            toks,
            vec![Tok::KwCore, Tok::Int(0), Tok::LBrace, Tok::Ident("nop"), Tok::Newline, Tok::RBrace, Tok::Newline]
        );
        let texts: Vec<(&str, bool)> = comments.iter().map(|c| (c.text, c.trailing)).collect();
        assert_eq!(texts, vec![(" head", false), (" open", true), (" tail", true)]);
    }

    #[test]
    fn lexes_instruction_line() {
        assert_eq!(
            toks("ld @patch, $input+56*i, size=10 // c\n"),
            vec![
                Tok::Ident("ld"),
                Tok::Local("patch"),
                Tok::Comma,
                Tok::Global("input"),
                Tok::Plus,
                Tok::Int(56),
                Tok::Star,
                Tok::Ident("i"),
                Tok::Comma,
                Tok::KeyEq("size"),
                Tok::Int(10),
                Tok::Newline
            ]
        );
    }

    #[test]
    fn dims_ranges_and_quoted_names() {
        assert_eq!(toks("5x5 0..25"), vec![Tok::Dims("5x5"), Tok::Int(0), Tok::DotDot, Tok::Int(25)]);
        assert_eq!(toks(r#"@"a b" conv1.bias"#), vec![Tok::Local("\"a b\""), Tok::Ident("conv1.bias")]);
        assert_eq!(name_text("\"a\\\"b\"").as_deref(), Some("a\"b"));
        assert_eq!(dims("1x1x28x28"), Some(vec![1, 1, 28, 28]));
        assert_eq!(quote_name("conv1.bias"), "conv1.bias");
        assert_eq!(quote_name("/layer1/Conv"), "\"/layer1/Conv\"");
    }
}
