//! Diagnostics: the one error type every stage reports through.
//!
//! A diagnostic prints like MLIR's (`file:line:col: error: message`, then the source line and a
//! caret when the source is at hand), so FileCheck tests and users see the same shape whether
//! the error came from MLIR's parser, a pass, the ONNX reader or the `.pim` parser.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
    Note,
    Remark,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
            Severity::Remark => "remark",
        })
    }
}

/// A source position. `line == 0` means "the file as a whole" (e.g. a truncated ONNX file).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Loc {
    pub file: Arc<str>,
    pub line: u32,
    pub col: u32,
}

impl Loc {
    pub fn new(file: impl Into<Arc<str>>, line: u32, col: u32) -> Self {
        Loc { file: file.into(), line, col }
    }
    pub fn file(file: impl Into<Arc<str>>) -> Self {
        Loc { file: file.into(), line: 0, col: 0 }
    }
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.file)
        } else {
            write!(f, "{}:{}:{}", self.file, self.line, self.col)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub loc: Option<Loc>,
    pub message: String,
    /// Attached notes, printed after the main message.
    pub notes: Vec<Diagnostic>,
}

impl Diagnostic {
    pub fn error(message: impl Into<String>) -> Self {
        Diagnostic { severity: Severity::Error, loc: None, message: message.into(), notes: vec![] }
    }
    pub fn note(message: impl Into<String>) -> Self {
        Diagnostic { severity: Severity::Note, ..Diagnostic::error(message) }
    }
    pub fn warning(message: impl Into<String>) -> Self {
        Diagnostic { severity: Severity::Warning, ..Diagnostic::error(message) }
    }
    pub fn at(mut self, loc: Loc) -> Self {
        self.loc = Some(loc);
        self
    }
    pub fn at_opt(mut self, loc: Option<Loc>) -> Self {
        if self.loc.is_none() {
            self.loc = loc;
        }
        self
    }
    pub fn with_note(mut self, note: Diagnostic) -> Self {
        self.notes.push(note);
        self
    }

    /// Renders the diagnostic; with the source text of its file, adds the line and a caret.
    pub fn render(&self, sources: &SourceMap) -> String {
        let mut out = String::new();
        self.render_into(&mut out, sources);
        out
    }

    fn render_into(&self, out: &mut String, sources: &SourceMap) {
        use std::fmt::Write;
        match &self.loc {
            Some(loc) => {
                let _ = writeln!(out, "{loc}: {}: {}", self.severity, self.message);
            }
            None => {
                let _ = writeln!(out, "{}: {}", self.severity, self.message);
            }
        }
        if let Some(loc) = &self.loc {
            if let Some(line) = sources.line(&loc.file, loc.line) {
                let _ = writeln!(out, "{line}");
                let pad: String = line
                    .chars()
                    .take(loc.col.saturating_sub(1) as usize)
                    .map(|c| if c == '\t' { '\t' } else { ' ' })
                    .collect();
                let _ = writeln!(out, "{pad}^");
            }
        }
        for note in &self.notes {
            note.render_into(out, sources);
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.render(&SourceMap::default()).trim_end())
    }
}

/// Source texts by file name, for caret snippets.
#[derive(Default, Clone)]
pub struct SourceMap {
    files: HashMap<Arc<str>, Arc<str>>,
}

impl SourceMap {
    pub fn add(&mut self, name: impl Into<Arc<str>>, text: impl Into<Arc<str>>) {
        self.files.insert(name.into(), text.into());
    }
    pub fn get(&self, name: &str) -> Option<&str> {
        self.files.get(name).map(|s| &**s)
    }
    fn line(&self, name: &str, line: u32) -> Option<&str> {
        if line == 0 {
            return None;
        }
        self.get(name)?.lines().nth(line as usize - 1)
    }
}

/// Errors an [`Error`] prints at most.
pub const MAX_SHOWN: usize = 100;

/// The error type of pimlir: one or more diagnostics (all errors found in one run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub diagnostics: Vec<Diagnostic>,
}

impl Error {
    pub fn new(message: impl Into<String>) -> Self {
        Diagnostic::error(message).into()
    }
    pub fn at(message: impl Into<String>, loc: Loc) -> Self {
        Diagnostic::error(message).at(loc).into()
    }
    pub fn many(diagnostics: Vec<Diagnostic>) -> Self {
        Error { diagnostics }
    }
    /// Prefixes a file location onto every diagnostic that has none.
    pub fn in_file(mut self, file: &str) -> Self {
        for d in &mut self.diagnostics {
            if d.loc.is_none() {
                d.loc = Some(Loc::file(file));
            }
        }
        self
    }
    /// Puts `prefix` before every message (e.g. the name of the node being imported).
    pub fn prefixed(mut self, prefix: &str) -> Self {
        for d in &mut self.diagnostics {
            d.message.insert_str(0, prefix);
        }
        self
    }
    /// The diagnostics as text: the first [`MAX_SHOWN`] errors (with their notes), then how
    /// many more there were.
    pub fn render(&self, sources: &SourceMap) -> String {
        let mut out = String::new();
        let mut errors = 0;
        for d in &self.diagnostics {
            if d.severity == Severity::Error {
                errors += 1;
            }
            if errors <= MAX_SHOWN || d.severity != Severity::Error {
                out.push_str(&d.render(sources));
            }
        }
        if errors > MAX_SHOWN {
            out.push_str(&format!("note: {} more errors not shown\n", errors - MAX_SHOWN));
        }
        out
    }
}

impl From<Diagnostic> for Error {
    fn from(d: Diagnostic) -> Self {
        Error { diagnostics: vec![d] }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.render(&SourceMap::default()).trim_end())
    }
}

impl std::error::Error for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Runs `f`, and turns a panic in it into an error message: what panicked and where. The
/// default panic report is silenced meanwhile, so the caller's diagnostic is the only one.
/// A panic is a bug; this keeps it from tearing down a process (through MLIR's C callbacks,
/// an unwinding panic would abort) and says where to look.
pub fn catch_panic<T>(f: impl FnOnce() -> T) -> std::result::Result<T, String> {
    use std::sync::Mutex;
    static WHERE: Mutex<Option<String>> = Mutex::new(None);
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|info| {
        let at = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
        if let Ok(mut w) = WHERE.lock() {
            *w = Some(at);
        }
    }));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    std::panic::set_hook(previous);
    result.map_err(|payload| {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".to_string());
        let at = WHERE.lock().ok().and_then(|mut w| w.take()).unwrap_or_default();
        if at.is_empty() {
            what
        } else {
            format!("{what} (at {at})")
        }
    })
}

/// `bail!("...")`: return an [`Error`] built from a format string.
#[macro_export]
macro_rules! bail {
    ($($arg:tt)*) => { return Err($crate::diag::Error::new(format!($($arg)*))) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_mlir_with_caret() {
        let mut sources = SourceMap::default();
        sources.add("a.pim", "core 0 {\n  bogus 1\n}\n");
        let d = Diagnostic::error("unknown instruction 'bogus'").at(Loc::new("a.pim", 2, 3));
        assert_eq!(d.render(&sources), "a.pim:2:3: error: unknown instruction 'bogus'\n  bogus 1\n  ^\n");
    }

    #[test]
    fn file_level_location_has_no_line() {
        let e = Error::new("truncated protobuf").in_file("m.onnx");
        assert_eq!(e.to_string(), "m.onnx: error: truncated protobuf");
    }
}
