use super::*;

const SAMPLE: &str = r#"// pimlir ISA program
arch "pimcomp-default"
weights "lenet5.onnx"

layer conv1 conv weight="conv1.weight" kernel=5x5 channels=1 rows=25 cols=6
layer fc1 fc weight="fc1.weight" transposed hwc=16x4x4 rows=256 cols=120

global $input size=1568 addr=0 input=0 shape=1x1x28x28
global $conv1.bias size=12 addr=1568 weight="conv1.bias"
global $half size=12 fill=0.5

core 0 {
  ag 0 conv1 replica=0 rows=0..25 xbars=1
  buffer @patch size=50 addr=0
  buffer @acc size=12
  setbw ibiw=16, obiw=16
  repeat i in 0..24 {
    repeat j in 0..24 {
      ld @patch+10*j, $input+56*i+2*j-4, size=10
      mvmul @acc, @patch, group=0, relu
      vvadd @acc, @acc, @patch+2, len=6
    }
  }
  send @acc, core=1, size=12
  lldi @patch, size=50, value=-1.5
}
"#;

#[test]
fn print_of_parse_is_identity() {
    let p = parse(SAMPLE, "s.pim").unwrap();
    assert_eq!(print(&p), SAMPLE);
    assert_eq!(p.cores[0].dynamic_count(), 1 + 24 * 24 * 3 + 2);
    assert_eq!(p.cores[0].static_count(), 6);
}

#[test]
fn several_syntax_errors_in_one_run() {
    let src = "arch \"x\"\ncore 0 {\n  ld @a, , size=1\n  mvmul @a @b\n}\n";
    let err = parse(src, "bad.pim").unwrap_err();
    assert_eq!(err.diagnostics.len(), 2, "{err}");
    assert!(err.diagnostics[0].to_string().starts_with("bad.pim:3:10: error: unexpected ','"), "{err}");
    assert!(err.diagnostics[1].to_string().starts_with("bad.pim:4:12: error: unexpected '@b'"), "{err}");
}

#[test]
fn semantic_errors_name_the_place() {
    let src = "core 0 {\n  buffer @a size=8\n  ld $nope, @a, size=4\n  mvmul @a, @a, group=3\n  frob @a\n}\n";
    let err = parse(src, "sem.pim").unwrap_err().to_string();
    assert!(err.contains("sem.pim:3:6: error: unknown global buffer '$nope'"), "{err}");
    assert!(err.contains("sem.pim:4:3: error: array group 3 is not in this core's table (0 groups)"), "{err}");
    assert!(err.contains("sem.pim:5:3: error: unknown instruction 'frob'"), "{err}");
}

#[test]
fn wrong_memory_is_reported() {
    let src = "global $g size=8\ncore 0 {\n  buffer @a size=8\n  ld $g, @a, size=4\n}\n";
    let err = parse(src, "m.pim").unwrap_err().to_string();
    assert!(
        err.contains("m.pim:4:6: error: '$g' is in the wrong memory; this operand needs a local (@name) address"),
        "{err}"
    );
}

#[test]
fn line_index() {
    let idx = LineIndex::new("ab\ncd\n");
    assert_eq!(idx.line_col(0), (1, 1));
    assert_eq!(idx.line_col(4), (2, 2));
}

#[test]
fn comments_are_kept_where_they_stand() {
    let src = "// pimlir ISA program\n// about the file\narch \"pimcomp-default\"\n\n// the first core\ncore 0 { // core line\n  buffer @a size=8 // a buffer\n  // before nop\n  nop //\n  repeat i in 0..2 { // loop\n    nop // in loop\n    // last in loop\n  } // after loop\n  // end of core\n}\n// end of file\n";
    let p = parse(src, "c.pim").unwrap();
    let body = &p.cores[0].body;
    let texts: Vec<(&str, bool)> = body
        .iter()
        .filter_map(|s| if let crate::isa::Stmt::Comment(c) = s { Some((c.text.as_str(), c.trailing)) } else { None })
        .collect();
    assert_eq!(texts, vec![(" before nop", false), ("", true), (" after loop", true), (" end of core", false)]);
    assert_eq!(p.comments[&crate::isa::Anchor::Core(crate::arch::CoreId(0))].len(), 2);
    assert_eq!(p.comments[&crate::isa::Anchor::End][0].text, " end of file");
    let printed = print(&p);
    assert_eq!(meaning(parse(&printed, "c.pim").unwrap()), meaning(p.clone()), "{printed}");
    assert!(printed.contains("  nop //\n") && printed.contains("  } // after loop\n"), "{printed}");
}
#[test]
fn declarations_after_cores_are_found() {
    // Cores are lowered in parallel against the declarations before them; a global declared
    // after its user makes the file be lowered whole.
    let src = "core 0 {\n  buffer @a size=8\n  ld @a, $late, size=8 // uses $late\n}\n// about late\nglobal $late size=8\ncore 1 {\n}\n";
    let p = parse(src, "late.pim").unwrap();
    assert_eq!(p.globals[0].name, "late");
    assert_eq!(p.cores.len(), 2);
    assert_eq!(p.comments[&crate::isa::Anchor::Global("late".into())][0].text, " about late");
    assert_eq!(meaning(parse(&print(&p), "late.pim").unwrap()), meaning(p.clone()));
}

#[test]
fn errors_in_every_piece_are_reported() {
    let src = "global $g size=8\ncore 0 {\n  ld @a, , size=1\n}\ncore 1 {\n  mvmul @a @b\n}\ncore 0 {\n}\n";
    let err = parse(src, "e.pim").unwrap_err();
    assert_eq!(err.diagnostics.len(), 2, "{err}");
    assert!(err.diagnostics[0].to_string().starts_with("e.pim:3:10: error: unexpected ','"), "{err}");
    assert!(err.diagnostics[1].to_string().starts_with("e.pim:6:12: error: unexpected '@b'"), "{err}");
    let src = "global $g size=8\ncore 0 {\n}\ncore 1 {\n  ld @x, $g, size=8\n}\ncore 0 {\n}\n";
    let err = parse(src, "e.pim").unwrap_err().to_string();
    assert!(err.contains("e.pim:5:6: error: unknown buffer '@x'"), "{err}");
    assert!(err.contains("e.pim:7:1: error: core 0 is defined twice"), "{err}");
}

#[test]
fn trailing_comment_after_a_name_with_slashes() {
    // Found by fuzzing: a `//` inside a quoted name is not a comment, so the line's own
    // comment still goes at its end.
    let src = "layer x fc weight=\"a // b\" rows=16 cols=9 // the real comment\n";
    let p = parse(src, "q.pim").unwrap();
    let printed = print(&p);
    assert!(printed.contains("rows=16 cols=9 // the real comment\n"), "{printed}");
    assert_eq!(meaning(parse(&printed, "q.pim").unwrap()), meaning(p.clone()));
}

#[test]
fn comment_after_arch_becomes_a_header_line() {
    // Found by fuzzing: header comments are printed on lines of their own, so one that ended
    // the `arch` line must be read as one too.
    let src = "arch \"pimcomp-default\" // for the default\nweights \"w.onnx\" // weights\n";
    let p = parse(src, "h.pim").unwrap();
    assert!(p.comments[&crate::isa::Anchor::Header].iter().all(|c| !c.trailing));
    assert_eq!(meaning(parse(&print(&p), "h.pim").unwrap()), meaning(p.clone()));
}

#[test]
fn header_comments_of_an_unnamed_architecture() {
    // Found by fuzzing: `arch ""` is not printed, and its comments would become the file's
    // end; the line is kept for them.
    let p = parse("// about\narch \"\"\n", "u.pim").unwrap();
    assert_eq!(p.arch, "");
    assert_eq!(meaning(parse(&print(&p), "u.pim").unwrap()), meaning(p.clone()));
}

/// A program without its source positions (printing lays the text out anew).
fn meaning(mut p: crate::isa::Program) -> crate::isa::Program {
    p.strip_lines();
    p
}
