# pimlir: the two entry points are `make demo` and `make test` (see README.md).
CARGO ?= cargo
PYTHON := .venv/bin/python
LIT := .venv/bin/lit
BIN := target/debug

.PHONY: all setup build demo test unit lit models models-test bench fuzz fmt clippy clean

all: build

# LLVM/MLIR 22 and the Python venv (onnx, onnxruntime, numpy, lit); fast when done before.
setup:
	./tools/setup.sh

build: setup
	$(CARGO) build --bins

# Compile LeNet-5 for pimcomp-default, simulate it, and check it against onnxruntime.
demo: build
	./tools/demo.sh

# Every test: Rust unit/snapshot tests, then the lit suite (FileCheck, end-to-end).
test: build models-test
	$(CARGO) test
	$(LIT) -sv lit-tests

unit: models-test
	$(CARGO) test

lit:
	$(CARGO) build --bins
	$(LIT) -sv lit-tests

# Regenerate the models in models/: the small committed ones, and with ZOO=1 every model
# (ResNets, GoogLeNet, MobileNetV2, VGG16, ...; about 30 s and 1.2 GB on disk).
models: setup
	$(PYTHON) tools/make_models.py $(if $(ZOO),--all,)

# The on-demand models the Rust tests read: ResNet-18 for the imported-graph snapshot
# (tests/zoo.rs). About 1 s; the files come out byte-identical every time.
models-test: setup
	$(PYTHON) tools/make_models.py resnet18

# Benchmarks of the ISA formats (pimsim-nn import, .pim parse/print rates, reroll); by hand.
bench: models-test
	./tools/bench_pim.sh

# Fuzz with libFuzzer for FUZZ_SECONDS (default 600): FUZZ_TARGET=pim_text (the .pim reader
# and verifier), sim (.pim through verifier, allocation and simulator), pimsim_json (the
# pimsim-nn importer) or pimcomp_json (PIMCOMP-NN JSON through the whole compilation).
# Seeds come from the lit tests.
# cargo-fuzz needs nightly features; RUSTC_BOOTSTRAP lets the stable toolchain build it.
FUZZ_TARGET ?= pim_text
FUZZ_SECONDS ?= 600
fuzz:
	command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	mkdir -p tools/fuzz/corpus/pim_text tools/fuzz/corpus/sim tools/fuzz/corpus/pimsim_json tools/fuzz/corpus/pimcomp_json
	cp lit-tests/Inputs/*.pim lit-tests/pim-text/*.pim lit-tests/sim/*.pim tools/fuzz/corpus/pim_text/
	cp lit-tests/Inputs/*.pim lit-tests/sim/*.pim tools/fuzz/corpus/sim/
	cp lit-tests/Inputs/pimsim-*.json tools/fuzz/corpus/pimsim_json/
	cp lit-tests/Inputs/tiny-pimcomp.json tools/fuzz/corpus/pimcomp_json/
	RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run --fuzz-dir tools/fuzz $(FUZZ_TARGET) tools/fuzz/corpus/$(FUZZ_TARGET) \
		-- -max_total_time=$(FUZZ_SECONDS)

fmt:
	$(CARGO) fmt

clippy:
	$(CARGO) clippy --all-targets -- -D warnings

clean:
	$(CARGO) clean
	rm -rf build lit-tests/Output
