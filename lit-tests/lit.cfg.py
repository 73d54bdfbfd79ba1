# lit configuration for pimlir's FileCheck tests.
#
# Run through `make lit` (or `make test`), which builds the tools first. Tools come from
# target/debug unless PIMLIR_BIN_DIR says otherwise; FileCheck and not from LLVM 22.
import os
import lit.formats

config.name = "pimlir"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".mlir", ".pim", ".test"]
config.excludes = ["Inputs", "lit.cfg.py"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.test_source_root, "Output")

repo = os.path.dirname(config.test_source_root)
bin_dir = os.environ.get("PIMLIR_BIN_DIR", os.path.join(repo, "target", "debug"))
llvm_bin = os.environ.get("LLVM_BIN_DIR", "/usr/lib/llvm-22/bin")
python = os.environ.get("PIMLIR_PYTHON", os.path.join(repo, ".venv", "bin", "python"))

# Bare tool names as in MLIR's tests; the pattern leaves paths and file names that merely
# contain a tool name alone.
for tool in ["pim-opt", "pim-translate", "pim-sim"]:
    config.substitutions.append((r"(?<![\w/.-])" + tool + r"(?![\w.-])", os.path.join(bin_dir, tool)))
config.substitutions.append(("%python", python))
config.substitutions.append(("%models", os.path.join(repo, "models")))
config.substitutions.append(("%tools", os.path.join(repo, "tools")))
config.substitutions.append(("%inputs", os.path.join(config.test_source_root, "Inputs")))

config.environment["PATH"] = os.pathsep.join([llvm_bin, config.environment.get("PATH", os.environ.get("PATH", ""))])
config.environment["RUST_BACKTRACE"] = "0"
