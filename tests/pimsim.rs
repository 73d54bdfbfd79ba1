//! pimsim-nn interop and rerolling: snapshots of what the importer prints and the exporter
//! writes, and properties: export then import is the identity on importable programs, and
//! rerolling never changes the instruction stream.

use pimlir::arch::CoreId;
use pimlir::isa::*;
use pimlir::pimsim::{self, ImportOptions};
use proptest::prelude::*;
use std::path::Path;

fn opts() -> ImportOptions {
    ImportOptions { arch: "pimcomp-default".into(), xbar_size: [128, 128], seed: 1, keep_scalar: false }
}

fn small() -> Program {
    let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/lit-tests/Inputs/pimsim-small.json"));
    pimsim::read(path, &opts()).unwrap()
}

fn export(p: &Program) -> String {
    let mut out = vec![];
    pimsim::write_to(p, [128, 128], &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn imported_program_snapshot() {
    let mut p = small();
    insta::assert_snapshot!("imported", text::print(&p));
    p.reroll();
    insta::assert_snapshot!("imported_rerolled", text::print(&p));
}

#[test]
fn exported_file_snapshot() {
    insta::assert_snapshot!(export(&small()));
}

/// The instructions a core executes, with every address resolved.
fn stream(p: &Program) -> Vec<(CoreId, String)> {
    let mut out = vec![];
    for c in &p.cores {
        let _ = c.for_each(|inst, _, counters| -> Result<(), ()> {
            let mut i = inst.clone();
            for a in i.addrs_mut() {
                a.offset = a.offset_at(counters);
                a.terms.clear();
            }
            out.push((c.id, format!("{i:?}")));
            Ok(())
        });
    }
    out
}

#[test]
fn rerolling_a_flattened_schedule_recovers_its_loops() {
    let models = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/models"));
    let imported = pimlir::frontend::import_onnx(&models.join("lenet5.onnx")).unwrap();
    let arch = pimlir::arch::Arch::load("pimcomp-default").unwrap();
    let scheduled =
        pimlir::compile::compile(&imported, "lenet5.onnx", &arch, "pimcomp-default", &unreplicated()).unwrap();
    let mut flat = scheduled.clone();
    flat.flatten().unwrap();
    assert_eq!(flat.static_count(), scheduled.dynamic_count());
    let mut rolled = flat.clone();
    rolled.reroll();
    assert_eq!(stream(&rolled), stream(&scheduled));
    // At least as compact as the scheduler's own loops.
    assert!(
        rolled.static_count() <= scheduled.static_count(),
        "{} vs {}",
        rolled.static_count(),
        scheduled.static_count()
    );
    rolled.weights = Some("lenet5.onnx".into());
    insta::assert_snapshot!(text::print(&rolled));
}

/// One copy of every layer: a one-core program, small enough to snapshot.
fn unreplicated() -> pimlir::compile::Options {
    pimlir::compile::Options { replicate: "none".into(), ..Default::default() }
}

fn addr() -> impl Strategy<Value = Addr> {
    (0i64..5000).prop_map(Addr::abs)
}

/// Instructions pimsim-nn files can hold, with absolute addresses (as imported).
fn inst(ags: u32, cores: u32) -> BoxedStrategy<Inst> {
    let mut v: Vec<BoxedStrategy<Inst>> = vec![
        Just(Inst::Nop).boxed(),
        Just(Inst::SetBw { ibiw: 8, obiw: 8 }).boxed(),
        (
            prop::sample::select(VecOp::ALL.into_iter().filter(|v| !v.is_extension()).collect::<Vec<_>>()),
            addr(),
            addr(),
            addr(),
            1u32..300,
        )
            .prop_map(|(op, rd, rs1, rs2, len)| Inst::Vec { op, rd, rs1, rs2: op.binary().then_some(rs2), len })
            .boxed(),
        (addr(), addr(), 1u32..99).prop_map(|(rd, rs1, len)| Inst::Vmv { rd, rs1, len, stride: 1 }).boxed(),
        (addr(), addr(), 1u32..999).prop_map(|(rd, rs1, size)| Inst::Ld { rd, rs1, size }).boxed(),
        (addr(), addr(), 1u32..999).prop_map(|(rd, rs1, size)| Inst::St { rd, rs1, size }).boxed(),
        (addr(), addr(), 1u32..999).prop_map(|(rd, rs1, size)| Inst::Lmv { rd, rs1, size }).boxed(),
        (addr(), 1u32..999, -100.0f32..100.0).prop_map(|(rd, size, value)| Inst::Lldi { rd, size, value }).boxed(),
        (0u8..32, 0i64..9).prop_map(|(event, value)| Inst::Wait { event, value }).boxed(),
        (0u8..32, 0..cores).prop_map(|(event, core)| Inst::Sync { event, core: CoreId(core) }).boxed(),
        (addr(), 0..cores, 1u32..999)
            .prop_map(|(rs1, core, size)| Inst::Send { rs1, core: CoreId(core), size })
            .boxed(),
        (addr(), 0..cores, 1u32..999).prop_map(|(rd, core, size)| Inst::Recv { rd, core: CoreId(core), size }).boxed(),
    ];
    if ags > 0 {
        v.push(
            (addr(), addr(), 0..ags, any::<bool>())
                .prop_map(|(rd, rs1, group, relu)| Inst::Mvmul { rd, rs1, group, relu, mbiw: 8 })
                .boxed(),
        );
    }
    proptest::strategy::Union::new(v).boxed()
}

/// Programs as the importer builds them: consecutive cores, AG tables over synthetic layers.
fn importable() -> impl Strategy<Value = Program> {
    (1u32..4)
        .prop_flat_map(|n| {
            proptest::collection::vec(
                proptest::collection::vec(1u32..4, 0..3).prop_flat_map(move |ags| {
                    (Just(ags.clone()), proptest::collection::vec(inst(ags.len() as u32, n), 0..12))
                }),
                n as usize,
            )
        })
        .prop_map(|cores| {
            let mut sizes: Vec<u32> = cores.iter().flat_map(|c| c.0.clone()).collect();
            sizes.sort_unstable();
            sizes.dedup();
            let layers = sizes
                .iter()
                .map(|&x| {
                    let name = pimsim::synthetic_layer_name(x);
                    Layer::fc(&name, &name, false, None, (128, 128 * x as i64)).unwrap()
                })
                .collect();
            let cores = cores
                .into_iter()
                .enumerate()
                .map(|(id, (ags, body))| CoreProgram {
                    id: CoreId(id as u32),
                    line: Line::NONE,
                    ags: ags
                        .into_iter()
                        .map(|x| ArrayGroup {
                            layer: pimsim::synthetic_layer_name(x),
                            line: Line::NONE,
                            replica: 0,
                            matrix: 0,
                            row_begin: 0,
                            rows: 128,
                            col_begin: 0,
                            cols: 128 * x as i64,
                            xbars: x,
                        })
                        .collect(),
                    buffers: vec![],
                    body: body.into_iter().map(|i| Stmt::Inst(i, Line::NONE)).collect(),
                })
                .collect();
            Program {
                arch: "pimcomp-default".into(),
                weights: Some("seed:1".into()),
                layers,
                cores,
                ..Program::default()
            }
        })
}

/// Flat streams with runs of strided blocks: `count` copies of a block of loads whose
/// addresses move by a stride per copy, between unrelated instructions.
fn strided_stream() -> impl Strategy<Value = Vec<Stmt>> {
    let run = (1usize..4, 1i64..6, -64i64..64, prop::collection::vec(0i64..1000, 1..4)).prop_map(
        |(period, count, stride, starts)| {
            let mut out = vec![];
            for k in 0..count {
                for p in 0..period {
                    let s = starts[p % starts.len()] + k * stride + 2000;
                    out.push(Stmt::Inst(
                        Inst::Lmv { rd: Addr::abs(s), rs1: Addr::abs(s + 7 * p as i64), size: 3 },
                        Line::NONE,
                    ));
                }
            }
            out
        },
    );
    let noise = inst(0, 1).prop_map(|i| vec![Stmt::Inst(i, Line::NONE)]);
    prop::collection::vec(prop_oneof![3 => run, 1 => noise], 0..8).prop_map(|v| v.concat())
}

/// `p` with the record numbers an import gives instructions as lines taken away.
fn without_record_lines(mut p: Program) -> Program {
    p.record_lines = false;
    for c in &mut p.cores {
        for s in &mut c.body {
            if let Stmt::Inst(_, line) = s {
                *line = Line::NONE;
            }
        }
    }
    p
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn export_then_import_is_the_identity(p in importable()) {
        let text = export(&p);
        let back = pimsim::read_from(text.as_bytes(), "p.json", &opts()).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        // The import numbers each instruction by its record (for diagnostics).
        prop_assert!(back.record_lines);
        prop_assert_eq!(without_record_lines(back), p);
    }

    #[test]
    fn reroll_keeps_the_instruction_stream(body in strided_stream()) {
        let flat = Program { cores: vec![CoreProgram { id: CoreId(0), line: Line::NONE, ags: vec![], buffers: vec![], body }], ..Program::default() };
        let mut rolled = flat.clone();
        rolled.reroll();
        prop_assert!(rolled.static_count() <= flat.static_count());
        let mut again = rolled.clone();
        again.flatten().unwrap();
        prop_assert_eq!(again, flat);
    }
}
