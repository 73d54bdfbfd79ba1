//! Tokens of the `.pim` text (logos), fed to the lalrpop grammar with byte spans.

use logos::Logos;
use std::fmt;

#[derive(Logos, Debug, Clone, PartialEq)]
#[logos(skip r"[ \t\r\f]+")]
#[logos(skip(r"//[^\n]*", allow_greedy = true))]
pub enum Tok<'a> {
    #[token("\n")]
    Newline,
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
    #[token("in")]
    KwIn,

    #[regex(r"[0-9]+", |lex| lex.slice().parse::<i64>().ok())]
    Int(i64),
    /// `5x5`, `1x1x28x28`: a shape or kernel size.
    #[regex(r"[0-9]+(x[0-9]+)+", |lex| lex.slice().split('x').map(|d| d.parse::<i64>().ok()).collect::<Option<Vec<_>>>())]
    Dims(Vec<i64>),
    #[regex(r"[0-9]+\.[0-9]+([eE][-+]?[0-9]+)?", |lex| lex.slice().parse::<f64>().ok())]
    #[regex(r"[0-9]+[eE][-+]?[0-9]+", |lex| lex.slice().parse::<f64>().ok())]
    Float(f64),
    #[regex(r#""([^"\\\n]|\\.)*""#, |lex| unescape(&lex.slice()[1..lex.slice().len() - 1]))]
    Str(String),
    #[regex(r"[A-Za-z_][A-Za-z0-9_.]*")]
    Ident(&'a str),
    /// `@name` or `@"any name"`: a local buffer.
    #[regex(r"@[A-Za-z_][A-Za-z0-9_.]*", |lex| lex.slice()[1..].to_string())]
    #[regex(r#"@"([^"\\\n]|\\.)*""#, |lex| unescape(&lex.slice()[2..lex.slice().len() - 1]))]
    Local(String),
    /// `$name` or `$"any name"`: a global buffer.
    #[regex(r"\$[A-Za-z_][A-Za-z0-9_.]*", |lex| lex.slice()[1..].to_string())]
    #[regex(r#"\$"([^"\\\n]|\\.)*""#, |lex| unescape(&lex.slice()[2..lex.slice().len() - 1]))]
    Global(String),
}

fn unescape(s: &str) -> Option<String> {
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
    Some(out)
}

const KEYWORDS: &[&str] = &["arch", "weights", "layer", "global", "core", "ag", "buffer", "repeat", "in"];

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
            Tok::KwIn => write!(f, "'in'"),
            Tok::Int(i) => write!(f, "integer {i}"),
            Tok::Dims(d) => write!(f, "dimensions {}", d.iter().map(|x| x.to_string()).collect::<Vec<_>>().join("x")),
            Tok::Float(x) => write!(f, "number {x}"),
            Tok::Str(s) => write!(f, "string {}", quote_str(s)),
            Tok::Ident(s) => write!(f, "'{s}'"),
            Tok::Local(s) => write!(f, "'@{s}'"),
            Tok::Global(s) => write!(f, "'${s}'"),
        }
    }
}

/// A lexing error at a byte offset.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LexError {
    pub at: usize,
}

/// Token stream in the shape lalrpop's external-lexer interface expects.
pub fn tokens(src: &str) -> impl Iterator<Item = Result<(usize, Tok<'_>, usize), LexError>> + '_ {
    Tok::lexer(src).spanned().map(|(t, span)| match t {
        Ok(t) => Ok((span.start, t, span.end)),
        Err(()) => Err(LexError { at: span.start }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok<'_>> {
        tokens(s).map(|t| t.unwrap().1).collect()
    }

    #[test]
    fn lexes_instruction_line() {
        assert_eq!(
            toks("ld @patch, $input+56*i, size=10 // c\n"),
            vec![
                Tok::Ident("ld"),
                Tok::Local("patch".into()),
                Tok::Comma,
                Tok::Global("input".into()),
                Tok::Plus,
                Tok::Int(56),
                Tok::Star,
                Tok::Ident("i"),
                Tok::Comma,
                Tok::Ident("size"),
                Tok::Eq,
                Tok::Int(10),
                Tok::Newline
            ]
        );
    }

    #[test]
    fn dims_ranges_and_quoted_names() {
        assert_eq!(toks("5x5 0..25"), vec![Tok::Dims(vec![5, 5]), Tok::Int(0), Tok::DotDot, Tok::Int(25)]);
        assert_eq!(toks(r#"@"a b" conv1.bias"#), vec![Tok::Local("a b".into()), Tok::Ident("conv1.bias")]);
        assert_eq!(quote_name("conv1.bias"), "conv1.bias");
        assert_eq!(quote_name("/layer1/Conv"), "\"/layer1/Conv\"");
    }
}
