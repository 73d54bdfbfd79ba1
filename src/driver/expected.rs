//! `--verify-diagnostics`: checks reported diagnostics against `expected-*` comments in the
//! input, as mlir-opt does: `// expected-error {{text}}` on the line of the error, or
//! `// expected-error@+1 {{text}}` / `@-2` relative to the comment's line.

use crate::diag::{Diagnostic, Severity};

#[derive(Debug, Clone)]
struct Expected {
    severity: Severity,
    line: u32,
    text: String,
    /// Line of the comment itself, for messages.
    at: u32,
    matched: bool,
}

fn parse_expectations(src: &str) -> Result<Vec<Expected>, String> {
    let mut out = vec![];
    for (i, l) in src.lines().enumerate() {
        let line = i as u32 + 1;
        let mut rest = l;
        while let Some(p) = rest.find("expected-") {
            rest = &rest[p + "expected-".len()..];
            let (severity, after) = if let Some(a) = rest.strip_prefix("error") {
                (Severity::Error, a)
            } else if let Some(a) = rest.strip_prefix("warning") {
                (Severity::Warning, a)
            } else if let Some(a) = rest.strip_prefix("note") {
                (Severity::Note, a)
            } else if let Some(a) = rest.strip_prefix("remark") {
                (Severity::Remark, a)
            } else {
                continue;
            };
            let (target, after) = match after.strip_prefix('@') {
                Some(a) => {
                    let end = a.find(|c: char| !(c.is_ascii_digit() || c == '+' || c == '-')).unwrap_or(a.len());
                    let off: i64 =
                        a[..end].parse().map_err(|_| format!("line {line}: bad offset in expected-* comment"))?;
                    let target = i64::from(line)
                        .checked_add(off)
                        .filter(|&t| t >= 1)
                        .and_then(|t| u32::try_from(t).ok())
                        .ok_or_else(|| format!("line {line}: offset {off} points outside the file"))?;
                    (target, &a[end..])
                }
                None => (line, after),
            };
            let after = after.trim_start();
            let Some(body) = after.strip_prefix("{{") else {
                return Err(format!("line {line}: expected-* comment needs its text in {{{{...}}}}"));
            };
            let end = body.find("}}").ok_or_else(|| format!("line {line}: unterminated {{{{ in expected-* comment"))?;
            out.push(Expected { severity, line: target, text: body[..end].to_string(), at: line, matched: false });
            rest = &body[end..];
        }
    }
    Ok(out)
}

/// Compares diagnostics with the expectations of `src` (file `name`). Returns the problems.
pub fn check(name: &str, src: &str, diags: &[Diagnostic]) -> Vec<String> {
    let mut exp = match parse_expectations(src) {
        Ok(e) => e,
        Err(m) => return vec![format!("{name}: {m}")],
    };
    let mut problems = vec![];
    let mut all: Vec<&Diagnostic> = vec![];
    for d in diags {
        all.push(d);
        all.extend(d.notes.iter());
    }
    for d in all {
        let line = d.loc.as_ref().filter(|l| &*l.file == name).map(|l| l.line);
        let hit = exp
            .iter_mut()
            .find(|e| !e.matched && e.severity == d.severity && Some(e.line) == line && d.message.contains(&e.text));
        match hit {
            Some(e) => e.matched = true,
            None if d.severity == Severity::Note => {}
            None => problems.push(format!(
                "{}: unexpected {}: {}",
                d.loc.as_ref().map(|l| l.to_string()).unwrap_or_else(|| name.to_string()),
                d.severity,
                d.message
            )),
        }
    }
    for e in exp.iter().filter(|e| !e.matched) {
        problems.push(format!(
            "{name}:{}: expected {} \"{}\" (on line {}) was not produced",
            e.at, e.severity, e.text, e.line
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Loc;

    #[test]
    fn matches_relative_and_same_line_expectations() {
        let src = "a\n// expected-error@+1 {{bad thing}}\nb // expected-warning {{careful}}\n";
        let d = vec![
            Diagnostic::error("a bad thing happened").at(Loc::new("f.mlir", 3, 1)),
            Diagnostic::warning("be careful").at(Loc::new("f.mlir", 3, 1)),
        ];
        assert!(check("f.mlir", src, &d).is_empty());
        let p = check("f.mlir", src, &d[..1]);
        assert_eq!(p.len(), 1);
        assert!(p[0].contains("expected warning \"careful\""), "{p:?}");
        let p = check("f.mlir", "x\n", &d[..1]);
        assert!(p[0].contains("unexpected error: a bad thing happened"), "{p:?}");
    }

    #[test]
    fn offsets_outside_the_file_are_errors() {
        for off in ["-5", "-9223372036854775808", "+9223372036854775807"] {
            let src = format!("a\n// expected-error@{off} {{{{x}}}}\n");
            let p = check("f.mlir", &src, &[]);
            assert!(
                p.iter().any(|m| m.contains(&format!("offset {off} points outside the file"))
                    || m.contains(&format!("offset {} points outside the file", off.trim_start_matches('+')))),
                "{off}: {p:?}"
            );
        }
    }
}
