# SPDX-License-Identifier: BSD-2-Clause
"""The layering of the project, checked: the contract and golden/ at the bottom, hw/ and
firmware/ above, sim/ and reports/ on top, each importing only downwards; the contract free of
PyTorch; no reference to files a user does not have."""

import ast
import subprocess
import sys

import pytest

from golden.contract.paths import repo_root

#: What each top-level package may import from the project.
ALLOWED = {
    "golden": {"golden"},
    "hw": {"golden", "hw"},
    "firmware": {"golden", "firmware"},
    "sim": {"golden", "hw", "firmware", "sim"},
    "reports": {"golden", "hw", "firmware", "sim", "reports"},
}


def _imports(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


@pytest.mark.parametrize("package", list(ALLOWED))
def test_packages_import_only_downwards(package):
    bad = []
    for path in sorted((repo_root() / package).rglob("*.py")):
        for name in _imports(path):
            top = name.split(".")[0]
            if top in ALLOWED and top not in ALLOWED[package]:
                bad.append(f"{path.relative_to(repo_root())}: {name}")
    assert not bad, f"{package}/ may import only {sorted(ALLOWED[package])}: {bad}"


def test_contract_imports_nothing_of_the_project_and_no_torch():
    bad = [f"{path.name}: {name}"
           for path in sorted((repo_root() / "golden" / "contract").glob("*.py"))
           for name in _imports(path) if name.split(".")[0] in {*ALLOWED, "torch"}]
    assert not bad, bad
    code = ("import sys, golden.contract.config, golden.contract.isa, golden.contract.codecs, "
            "golden.contract.tileloop, golden.contract.workloads, golden.contract.paths; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=repo_root(), check=True).stdout
    assert out.strip() == "False"


def test_no_module_runs_another_packages_main():
    bad = [str(path.relative_to(repo_root()))
           for package in ALLOWED for path in sorted((repo_root() / package).rglob("*.py"))
           if any(name.endswith(".__main__") for name in _imports(path))]
    assert not bad, bad


def test_every_package_says_what_it_is():
    missing = [str(init.relative_to(repo_root()))
               for package in ALLOWED for init in sorted((repo_root() / package).rglob(
                   "__init__.py")) if not ast.get_docstring(ast.parse(init.read_text()))]
    assert not missing, missing


def test_no_reference_to_files_users_do_not_have():
    files = subprocess.run(["git", "ls-files"], capture_output=True, text=True,
                           cwd=repo_root(), check=True).stdout.split()
    bad = []
    for name in files:
        path = repo_root() / name
        if path.suffix in {".safetensors", ".png"} or not path.is_file():
            continue
        text = path.read_text(errors="replace")
        for needle in ("shared/" + "reference", "amaranth._tool" + "chain"):
            if needle in text:
                bad.append(f"{name}: {needle}")
    assert not bad, bad
