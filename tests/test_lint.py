# SPDX-License-Identifier: BSD-2-Clause
"""House rules that a tool can check: ruff's curated rule set, and one SPDX line per file."""

import subprocess
import sys
from pathlib import Path

from golden.contract.paths import repo_root

_SOURCES = ("golden", "hw", "firmware", "sim", "reports", "tests")


def test_ruff_is_clean():
    ruff = Path(sys.executable).parent / "ruff"
    proc = subprocess.run([str(ruff), "check", "--no-cache", *_SOURCES], cwd=repo_root(),
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_python_file_has_one_spdx_line():
    bad = []
    for package in _SOURCES:
        for path in sorted((repo_root() / package).rglob("*.py")):
            head = path.read_text().splitlines()[:3]
            if sum("SPDX-License-Identifier:" in line for line in head) != 1:
                bad.append(str(path.relative_to(repo_root())))
    assert not bad, f"missing or repeated SPDX line in: {', '.join(bad)}"
