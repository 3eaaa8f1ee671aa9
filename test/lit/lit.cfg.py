# -*- Python -*-
# lit configuration for densenet: FileCheck tests of passes, dialects,
# diagnostics and the densenetc command line.

import os

import lit.formats
from lit.llvm import llvm_config

config.name = "densenet"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test", ".json"]
config.excludes = ["Inputs", "CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.densenet_obj_root, "test", "lit")

llvm_config.use_default_substitutions()
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
llvm_config.with_environment("PATH", config.densenet_tools_dir, append_path=True)

# Debian's python3-torchvision lives in /usr/bin/python3's site-packages; a
# python3 earlier on PATH (pyenv) would not see it.
config.substitutions.append(("%system_python", "/usr/bin/python3"))
config.substitutions.append(("%scripts", os.path.join(config.densenet_src_root, "scripts")))

# lit runs tests in parallel, one per core; OpenMP threads that spin while
# they wait would take the cores from the other test, making a small
# training run 10x slower. Passive waiting changes no result.
config.environment["OMP_WAIT_POLICY"] = "PASSIVE"
config.substitutions.append(("%densenet_bin", config.densenet_tools_dir))
config.substitutions.append(("%docs", os.path.join(config.densenet_src_root, "docs")))
