//! Property: printing any program (comments included) and parsing the text gives the same
//! program back, and printing that again gives the same text.

use pimlir::arch::CoreId;
use pimlir::isa::*;
use proptest::prelude::*;

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9_.]{0,6}[a-z0-9]",
        Just("core".to_string()),
        Just("a b".to_string()),
        Just("/layer1/Conv".to_string()),
        Just("q\"uote".to_string()),
    ]
}

fn addr(base_count: u32, depth: usize) -> impl Strategy<Value = Addr> {
    let terms = proptest::collection::vec((0..depth.max(1) as u8, -50i64..50), 0..=depth.min(3));
    (0..base_count + 1, 0i64..4096, terms).prop_map(move |(b, off, terms)| {
        let mut a = if b == 0 { Addr::abs(off) } else { Addr::local(b - 1, off) };
        if depth > 0 {
            for (l, c) in terms {
                a.add_term(l, c).expect("small coefficients");
            }
        }
        a
    })
}

fn global_addr(globals: u32, depth: usize) -> impl Strategy<Value = Addr> {
    (0..globals, 0i64..4096, addr(0, depth)).prop_map(|(g, off, a)| Addr {
        base: Base::Global(g),
        offset: off,
        terms: a.terms,
    })
}

fn inst(bufs: u32, globals: u32, ags: u32, depth: usize) -> BoxedStrategy<Inst> {
    let a = move || addr(bufs, depth);
    let mut choices: Vec<BoxedStrategy<Inst>> = vec![
        Just(Inst::Nop).boxed(),
        (0u32..64, 0u32..64).prop_map(|(i, o)| Inst::SetBw { ibiw: i, obiw: o }).boxed(),
        (prop::sample::select(VecOp::ALL.to_vec()), a(), a(), a(), 1u32..300)
            .prop_map(|(op, rd, rs1, rs2, len)| Inst::Vec { op, rd, rs1, rs2: op.binary().then_some(rs2), len })
            .boxed(),
        (a(), a(), 1u32..99, 1u32..9).prop_map(|(rd, rs1, len, stride)| Inst::Vmv { rd, rs1, len, stride }).boxed(),
        (a(), 1u32..999, -1000.0f32..1000.0).prop_map(|(rd, size, value)| Inst::Lldi { rd, size, value }).boxed(),
        (a(), a(), 1u32..999).prop_map(|(rd, rs1, size)| Inst::Lmv { rd, rs1, size }).boxed(),
        (a(), 0u32..200, 1u32..999).prop_map(|(rs1, core, size)| Inst::Send { rs1, core: CoreId(core), size }).boxed(),
        (a(), 0u32..200, 1u32..999).prop_map(|(rd, core, size)| Inst::Recv { rd, core: CoreId(core), size }).boxed(),
        (0u8..32, 0i64..99).prop_map(|(event, value)| Inst::Wait { event, value }).boxed(),
        (0u8..32, 0u32..9).prop_map(|(event, core)| Inst::Sync { event, core: CoreId(core) }).boxed(),
        (prop::sample::select(ScalarOp::ALL.to_vec()), 0u8..32, 0u8..32, 0u8..32, -9999i64..9999)
            .prop_map(|(op, rd, rs1, rs2, imm)| Inst::Scalar { op, rd, rs1, rs2, imm })
            .boxed(),
    ];
    if ags > 0 {
        choices.push(
            (a(), a(), 0..ags, any::<bool>(), 0u32..16)
                .prop_map(|(rd, rs1, group, relu, mbiw)| Inst::Mvmul { rd, rs1, group, relu, mbiw })
                .boxed(),
        );
    }
    if globals > 0 {
        choices.push(
            (a(), global_addr(globals, depth), 1u32..999)
                .prop_map(|(rd, rs1, size)| Inst::Ld { rd, rs1, size })
                .boxed(),
        );
        choices.push(
            (global_addr(globals, depth), a(), 1u32..999)
                .prop_map(|(rd, rs1, size)| Inst::St { rd, rs1, size })
                .boxed(),
        );
    }
    proptest::strategy::Union::new(choices).boxed()
}

fn comment_text() -> impl Strategy<Value = String> {
    "[ -~]{0,12}"
}

fn comment() -> impl Strategy<Value = Comment> {
    (comment_text(), any::<bool>()).prop_map(|(text, trailing)| Comment { text, trailing })
}

/// A trailing comment ends the line of the instruction before it; elsewhere it stands alone.
fn place_comments(mut v: Vec<Stmt>) -> Vec<Stmt> {
    for k in 0..v.len() {
        let after_inst = k > 0 && matches!(v[k - 1], Stmt::Inst(..));
        if let Stmt::Comment(c) = &mut v[k] {
            c.trailing &= after_inst;
        }
    }
    v
}

/// A task marker: an op's name, maybe a replica and windows, maybe the op's tokens.
fn task() -> impl Strategy<Value = Task> {
    (name(), proptest::option::of(0u32..9), proptest::option::of((0u64..99, 0u64..99)), any::<bool>())
        .prop_map(|(op, replica, w, sync)| Task { op, replica, windows: w.map(|(a, b)| (a.min(b), a.max(b))), sync })
}

fn stmts(bufs: u32, globals: u32, ags: u32, depth: usize) -> BoxedStrategy<Vec<Stmt>> {
    let leaf = inst(bufs, globals, ags, depth).prop_map(|i| Stmt::Inst(i, Line::NONE));
    let note = comment().prop_map(Stmt::Comment);
    let marker = task().prop_map(Stmt::Task);
    if depth >= 2 {
        return proptest::collection::vec(prop_oneof![4 => leaf, 1 => note, 1 => marker], 0..4)
            .prop_map(place_comments)
            .boxed();
    }
    let nested = (-3i64..5, 0i64..30, stmts(bufs, globals, ags, depth + 1))
        .prop_map(|(start, count, body)| Stmt::Repeat { start, count, body });
    proptest::collection::vec(prop_oneof![3 => leaf, 1 => nested, 1 => note, 1 => task().prop_map(Stmt::Task)], 0..5)
        .prop_map(place_comments)
        .boxed()
}

/// Comments on some declarations: lines before them, maybe one at the end of their line.
fn declaration_comments(p: &Program, picks: &[(usize, Vec<String>, Option<String>)]) -> Vec<(Anchor, Vec<Comment>)> {
    let mut anchors = vec![Anchor::Header, Anchor::End];
    anchors.extend(p.layers.iter().map(|l| Anchor::Layer(l.name.clone())));
    anchors.extend(p.globals.iter().map(|g| Anchor::Global(g.name.clone())));
    for c in &p.cores {
        anchors.push(Anchor::Core(c.id));
        anchors.extend((0..c.ags.len() as u32).map(|index| Anchor::Ag { core: c.id, index }));
        anchors.extend(c.buffers.iter().map(|b| Anchor::Buffer { core: c.id, name: b.name.clone() }));
    }
    let mut out: Vec<(Anchor, Vec<Comment>)> = vec![];
    for (k, lines, tail) in picks {
        let anchor = anchors[k % anchors.len()].clone();
        if out.iter().any(|(a, _)| *a == anchor) || (lines.is_empty() && tail.is_none()) {
            continue;
        }
        let mut list: Vec<Comment> = lines.iter().map(|t| Comment::line(t.clone())).collect();
        if !matches!(anchor, Anchor::Header | Anchor::End) {
            list.extend(tail.iter().map(|t| Comment { text: t.clone(), trailing: true }));
        } else if list.is_empty() {
            continue;
        }
        out.push((anchor, list));
    }
    out
}

fn bn(prefix: &str) -> BnRef {
    BnRef {
        gamma: format!("{prefix}.gamma"),
        beta: format!("{prefix}.beta"),
        mean: format!("{prefix}.mean"),
        var: format!("{prefix}.var"),
        eps: 1e-5,
    }
}

fn program() -> impl Strategy<Value = Program> {
    // Layers of every kind: convolutions in every unfolding format, grouped and packed.
    let layers = proptest::collection::vec(
        (name(), any::<bool>(), 1i64..5, 1i64..300, any::<bool>(), name(), 0usize..5, 1u32..4, 1u32..4),
        0..3,
    )
    .prop_map(|ls| {
        let mut out: Vec<Layer> = vec![];
        for (n, conv, k, cols, t, w, format, groups, pack) in ls {
            if out.iter().any(|l| l.name == n) {
                continue;
            }
            let mut layer = if conv {
                let format = Format::ALL[format];
                let pack = pack.min(groups);
                let u = Unfolding::new(format, [k as u32, k as u32], 3, cols as u32 % 40 + 1, groups, pack).unwrap();
                let (r, c) = u.shape(0);
                Layer::conv(&n, &w, [k, k], 3, (i64::from(r), i64::from(c)), groups.into(), pack.into(), format)
                    .unwrap()
            } else {
                Layer::fc(&n, &w, t, t.then_some([k, 4, 4]), (k * 16, cols)).unwrap()
            };
            layer.scale = t.then(|| bn(&w));
            out.push(layer);
        }
        out
    });
    let globals =
        proptest::collection::vec((name(), 1u64..5000, proptest::option::of(0u64..100000), 0u8..5, -9.0f32..9.0), 0..4)
            .prop_map(|gs| {
                let mut out: Vec<GlobalBuf> = vec![];
                for (n, size, addr, kind, v) in gs {
                    if out.iter().any(|g| g.name == n) {
                        continue;
                    }
                    let init = match kind {
                        0 => GlobalInit::None,
                        1 => GlobalInit::Input { index: 0, shape: vec![1, 3, 4, 4] },
                        2 => GlobalInit::Output { index: 1, shape: vec![1, 10] },
                        3 => GlobalInit::Weight { name: format!("w.{n}") },
                        _ => GlobalInit::Fill { value: v },
                    };
                    // Scratch buffers may have copies (one per sample in flight).
                    let slots = if init == GlobalInit::None { 1 + (size % 3) as u32 } else { 1 };
                    out.push(GlobalBuf { name: n, line: Line::NONE, size, addr, init, slots });
                }
                out
            });
    (layers, globals, proptest::option::of(name()))
        .prop_flat_map(|(layers, globals, weights)| {
            let g = globals.len() as u32;
            let nl = layers.len();
            let core = (0u32..4, 1u32..4, 0u32..3).prop_flat_map(move |(id_off, nb, na)| {
                let na = if nl == 0 { 0 } else { na };
                (
                    Just(id_off),
                    proptest::collection::vec((name(), 1u64..999, proptest::option::of(0u64..9999)), nb as usize),
                    proptest::collection::vec((0..nl.max(1), 0u32..4), na as usize),
                    stmts(nb, g, na, 0),
                )
            });
            let picks = proptest::collection::vec(
                (0usize..64, proptest::collection::vec(comment_text(), 0..3), proptest::option::of(comment_text())),
                0..4,
            );
            (Just(layers), Just(globals), Just(weights), proptest::collection::vec(core, 1..3), picks)
        })
        .prop_map(|(layers, globals, weights, cores, picks)| {
            let mut out_cores: Vec<CoreProgram> = vec![];
            for (k, (id_off, bufs, ags, body)) in cores.into_iter().enumerate() {
                let id = k as u32 * 4 + id_off;
                let buffers = bufs
                    .into_iter()
                    .enumerate()
                    .map(|(i, (n, size, addr))| LocalBuf { name: format!("{n}{i}"), line: Line::NONE, size, addr })
                    .collect();
                // Groups of any matrix of their layer, some spanning part of its columns.
                let ags = ags
                    .into_iter()
                    .map(|(l, r)| {
                        let layer = &layers[l];
                        let matrix = r % layer.unfolding.matrices();
                        let (rows, cols) = layer.shape(matrix);
                        let col_begin = if r % 2 == 1 { cols / 2 } else { 0 };
                        ArrayGroup {
                            layer: layer.name.clone(),
                            line: Line::NONE,
                            replica: r,
                            matrix,
                            row_begin: 0,
                            rows,
                            col_begin,
                            cols: cols - col_begin,
                            xbars: 1,
                        }
                    })
                    .collect();
                out_cores.push(CoreProgram { id: CoreId(id), line: Line::NONE, ags, buffers, body });
            }
            let mut p = Program {
                source: String::new(),
                arch: "pimcomp-default".into(),
                weights,
                layers,
                globals,
                cores: out_cores,
                comments: Default::default(),
                record_lines: false,
            };
            p.comments = declaration_comments(&p, &picks).into_iter().collect();
            p
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]
    #[test]
    fn print_parse_print_is_stable(p in program()) {
        let text = text::print(&p);
        let mut parsed = text::parse(&text, "p.pim").map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        // The generated program has no positions; the parsed one has the printed text's.
        parsed.strip_lines();
        prop_assert_eq!(&parsed, &p, "{}", text);
        prop_assert_eq!(text::print(&parsed), text);
    }
}
