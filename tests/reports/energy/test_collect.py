# SPDX-License-Identifier: BSD-2-Clause
"""reports.energy.collect, render, plots and report: from a co-simulation report to the JSON,
the Markdown (every figure computed) and the figures; the area section; bad input."""

import pytest

from golden.contract.config import AcceleratorConfig
from reports.energy.data import EnergyTable

DATA = EnergyTable.load()


def test_area_section_with_and_without_gate_counts(tmp_path):
    import json

    from reports.energy.collect import area_section
    from reports.energy.render import area_markdown

    area = area_section(DATA, tmp_path)
    assert area["gates"] is None and len(area["missing"]) == 2
    assert "make fpga" in "\n".join(area_markdown(area, None))
    # 13-bit adder: 36 + (67 - 36) * 5 / 8 um^2; FP16 element 1640 + 1360 um^2
    assert area["published_45nm"]["ternary"]["um2"] == pytest.approx(36 + 31 * 5 / 8)
    assert area["published_45nm"]["fp16"]["um2"] == 3000
    rec = {"design": "ternary", "kind": "pe", "rows": 16, "cols": 16, "policy": "bit growth",
           "psum_bits": 13, "gates": 70, "ffs": 40, "transistors": 1000}
    (tmp_path / "gates.json").write_text(json.dumps({"script": "", "records": [rec]}))
    area = area_section(DATA, tmp_path)
    assert area["gates"]["records"][0]["cells"] == 110
    assert "| ternary | bit growth | 13 | 110 | 1000 |" in "\n".join(area_markdown(area, None))


def test_report_end_to_end(tmp_path):
    """collect -> JSON -> Markdown and figures, on two recorded layers and a small model."""
    import json

    from golden.contract.workloads import ModelShape
    from reports.energy.collect import collect
    from reports.energy.plots import plot
    from reports.energy.render import render_markdown

    cfg = AcceleratorConfig()
    layers = [{"name": "layers.0.attn.q_proj", "m": 4, "k": 64, "n": 32, "cycles": 100,
               "utilization": 0.5, "macs": 4 * 64 * 32, "zero_weight_fraction": 0.25,
               "bit_exact": True},
              {"name": "2b4t.q_proj", "m": 2, "k": 128, "n": 16, "cycles": 200,
               "utilization": 0.5, "macs": 2 * 128 * 16, "zero_weight_fraction": 0.5,
               "bit_exact": True}]
    cosim = tmp_path / "cosim.json"
    cosim.write_text(json.dumps({"layers": layers, "config": cfg.to_dict(),
                                 "simulator": "test"}))
    report = collect(config=cfg, cosim_json=cosim, reports_dir=tmp_path, activity=False,
                     models={"mini": ModelShape("mini", hidden=64, ffn=128, layers=2,
                                                nominal_parameters=1e5)},
                     log=lambda *a: None)
    assert "make sim` on test" in report["count_source"]
    # the model totals cover the model's layer only; convention by hand at 45 nm
    conv = report["tiny_model"]["45nm"]["ternary"]["convention_pj"]
    assert conv == pytest.approx(4 * 63 * 32 * 0.03 + (4 * 32 + 4 * 64) * 1.1)
    assert report["trained_zero_fraction"] == pytest.approx(0.25)
    assert report["per_token"]["mini"]["bitlinear_weights"] == 2 * (
        2 * 64 * 64 + 2 * 64 * 64 + 3 * 128 * 64)
    # DRAM weight traffic per decoded token of the sweep's model, by the counters' rule
    # (the co-simulation has on-chip weights: no MEM_BYTES to use)
    dram = report["dram_per_token"]
    assert dram["model"] == "mini" and not dram["measured"]["used"]
    assert dram["formats"]["2bit"]["bytes_per_token"] == 2 * (
        2 * 64 * 64 + 2 * 64 * 64 + 3 * 128 * 64) * 2 // 8
    figures = plot(report, tmp_path)
    text = render_markdown(report, figures)
    assert "**71.4x**" in text and "make fpga" in text
    assert "## Energy per decoded mini token, weights streamed over AXI4" in text
    for f in figures.values():
        assert (tmp_path / f).stat().st_size > 10_000
    json.dumps(report, default=str)


def test_report_refuses_a_bad_data_file(tmp_path, capsys):
    from reports.__main__ import main

    bad = tmp_path / "bad.toml"
    bad.write_text("schema = 2\n")
    assert main(["--out", str(tmp_path), "energy", "--data", str(bad), "--no-activity"]) == 1
    assert "schema must be 1, not 2" in capsys.readouterr().err


def test_summary_reads_what_make_sim_wrote(tmp_path, capsys):
    """``python -m reports summary`` (the end of ``make sim``) reads build/sim/cosim.json:
    reports/ reads what sim/ wrote."""
    import json

    from reports.__main__ import main

    cfg = AcceleratorConfig(rows=4, cols=4)
    layer = {"name": "layers.0.attn.q_proj", "m": 4, "k": 64, "n": 32, "cycles": 100,
             "utilization": 0.5, "macs": 4 * 64 * 32, "zero_weight_fraction": 0.25,
             "bit_exact": True}
    cosim = tmp_path / "cosim.json"
    cosim.write_text(json.dumps({"layers": [layer], "config": cfg.to_dict()}))
    assert main(["summary", "--cosim", str(cosim)]) == 0
    out = capsys.readouterr().out
    assert "FP16 / ternary:" in out and "zero-weight MACs skipped: 25.0%" in out
    assert main(["summary", "--cosim", str(tmp_path / "none.json")]) == 1
    assert "does not exist: run `make sim` first" in capsys.readouterr().err
    cosim.write_text("{}")
    assert main(["summary", "--cosim", str(cosim)]) == 1
    assert "is not a co-simulation report" in capsys.readouterr().err
