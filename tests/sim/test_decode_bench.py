# SPDX-License-Identifier: BSD-2-Clause
"""``python -m sim.benchmarks.decode``: the 2B-4T decode projection beside bitnet-kv260."""

import json

import pytest

from sim.benchmarks.decode import main


def test_projection_is_printed_and_recorded(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ACCEL_BUILD_DIR", str(tmp_path))
    assert main(["--mem-gbps", "19.2", "--clock-mhz", "200"]) == 0
    out = capsys.readouterr().out
    assert "bitnet-kv260: 16.78 tokens/s measured" in out and "LM head" in out
    p = json.loads((tmp_path / "bench" / "decode.json").read_text())["projection"]
    assert len(p["layers"]) == 7 and p["model"] == "2B-4T"
    assert f"tokens/s {p['tokens_per_s']:.2f} ({p['bound']} bound" in out
    assert p["bitnet_kv260"]["memory_bound_at_this_bandwidth"] == pytest.approx(19.2e9 / 483e6)


def test_bad_rates_are_refused_by_name(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--mem-gbps", "0"])
    assert e.value.code == 2
    assert "gbytes_per_s must be a positive number, not 0.0" in capsys.readouterr().err
