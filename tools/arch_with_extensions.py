#!/usr/bin/env python3
"""Write pimcomp-default with the vector-unit extensions on: `arch_with_extensions.py OUT.json`.

Read from the preset's own text in src/arch/presets.rs, so it follows the preset. The
benchmark scripts give it to models with softmax or LRN (which need exp, log and divide)."""
import json
import re
import sys
from pathlib import Path

src = (Path(__file__).resolve().parent.parent / "src/arch/presets.rs").read_text()
arch = json.loads(re.search(r'const PIMCOMP_DEFAULT: &str = r#"(.*?)"#;', src, re.S).group(1))
arch["pimlir"].update(name="pimcomp-default+ext", vector_extensions=True)
Path(sys.argv[1]).write_text(json.dumps(arch))
