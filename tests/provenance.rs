//! Scheduled programs say what each instruction is for: the simulator attributes every
//! instruction of a compiled LeNet-5 to a task (op, replica), and the tasks account for all
//! the work of each layer. Plain Rust: no MLIR.

use pimlir::isa::{Inst, Task};
use pimlir::sim::{self, At, Observer};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Default)]
struct ByTask {
    counts: BTreeMap<(String, Option<u32>, bool), u64>,
    unattributed: Vec<String>,
}

impl Observer for ByTask {
    fn instruction(&mut self, at: &At, inst: &Inst, _: &sim::semantics::Effects) {
        match at.task {
            Some(Task { op, replica, sync, .. }) => *self.counts.entry((op.clone(), *replica, *sync)).or_default() += 1,
            None => self.unattributed.push(inst.mnemonic().to_string()),
        }
    }
}

#[test]
fn every_instruction_belongs_to_a_task() {
    let models = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/models"));
    let onnx = models.join("lenet5.onnx");
    let imported = pimlir::frontend::import_onnx(&onnx).unwrap();
    let arch = pimlir::arch::Arch::load("pimcomp-default").unwrap();
    let opts = pimlir::compile::Options { replicate: "balance".into(), ..Default::default() };
    let p = pimlir::compile::compile(&imported, &onnx.display().to_string(), &arch, "pimcomp-default", &opts).unwrap();
    let weights = pimlir::onnx::OnnxModel::open(&onnx).unwrap();
    let x = sim::Tensor::read_npy(&models.join("lenet5.input0.npy")).unwrap();
    let mut by = ByTask::default();
    sim::run_with(&p, &arch, &weights, &[x], &mut by).unwrap();
    // Only each core's leading setbw precedes its first task.
    assert!(by.unattributed.iter().all(|m| m == "setbw"), "{:?}", by.unattributed);
    assert_eq!(by.unattributed.len(), p.cores.len());
    // Every layer's replicas and every vector op have work; tokens are marked as sync.
    for layer in ["conv1", "conv2", "fc1", "fc2", "fc3"] {
        let replicas = by.counts.keys().filter(|(op, r, sync)| op == layer && r.is_some() && !sync).count();
        assert!(replicas >= 1, "{layer}: {:?}", by.counts.keys().collect::<Vec<_>>());
    }
    assert!(by.counts.keys().any(|(op, _, sync)| op == "maxpool1" && !sync));
    assert!(by.counts.keys().any(|(_, _, sync)| *sync));
    let total: u64 = by.counts.values().sum::<u64>() + by.unattributed.len() as u64;
    assert_eq!(total, p.dynamic_count());
}
