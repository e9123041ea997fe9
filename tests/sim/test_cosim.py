# SPDX-License-Identifier: BSD-2-Clause
"""sim.cosim (``make sim``): layers on the accelerator RTL, checked, reported."""

import json

import pytest

from golden.contract.config import AcceleratorConfig
from golden.formats import load_model
from sim.cosim import cosimulate, main, records, write_report

SMALL = ["--rows", "4", "--cols", "4", "--weight-depth", "16384", "--act-depth", "2048",
         "--acc-depth", "256"]


@pytest.mark.cosim
def test_2b4t_layers_on_verilator_are_bit_exact(tmp_path, capsys):
    out = tmp_path / "cosim.json"
    rc = main(["--model", "none", "--simulator", "verilator", "--m", "2", "--n-slice", "8",
               *SMALL, "--out", str(out)])
    assert rc == 0
    report = json.loads(out.read_text())
    assert report["all_bit_exact"] is True
    layers = report["layers"]
    assert [la["name"] for la in layers] == [f"2b4t.{n}" for n in (
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")]
    for la in layers:
        assert set(la) >= {"name", "m", "k", "n", "cycles", "bit_exact", "utilization"}
        assert la["bit_exact"] and la["max_abs_diff"] == 0.0
        assert la["n"] == 8 and la["k"] in (2560, 6912) and la["m"] == 2
        # M = 2 < rows: bound by the weight memory, M * cols MACs per cycle at best.
        assert 0 < la["utilization"] <= 2 * 4 / 16
    assert "down_proj" in capsys.readouterr().out


def test_cosim_refuses_bad_options(capsys):
    with pytest.raises(SystemExit):
        main(["--m", "0"])
    assert "--m must be positive, not 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--rows", "0"])
    assert "rows must be between 1 and 1024, not 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--model", "none", "--no-2b4t"])
    assert "nothing to run" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--waves", "--simulator", "verilator"])
    assert "--waves needs a cocotb simulator" in capsys.readouterr().err


def test_cosimulate_is_the_documented_api(tmp_path):
    """The API behind ``python -m sim``, on the functional model: the report that the energy
    model reads, with the tile loop's cycles and bit-exact layers."""
    import numpy as np

    from firmware.compiler import compile_layer
    from golden.contract.tileloop import program_work

    cfg = AcceleratorConfig(rows=4, cols=4)
    report = cosimulate(config=cfg, simulator="functional", model="tiny-b158",
                        prompt="def f", m=2, n_slice=8)
    assert report["all_bit_exact"] is True and report["model_logits_max_abs_diff"] == 0.0
    assert report["config"] == cfg.to_dict() and report["simulator"] == "functional"
    layers = records(report)
    assert len(layers) == 28 + 7
    for la in layers:         # the tile loop's cycles over the passes the firmware compiles
        program = compile_layer(cfg, np.zeros((la.m, la.k), np.int8),
                                np.zeros((la.n, la.k), np.int8))
        assert la.cycles == program_work(cfg, program.words).cycles
    write_report(tmp_path / "cosim.json", report)
    assert json.loads((tmp_path / "cosim.json").read_text()) == report


@pytest.mark.cosim
def test_model_layers_on_verilator_are_bit_exact(tmp_path):
    # Every BitLinear of the shipped model over a short prompt, on a small array.
    out = tmp_path / "cosim.json"
    rc = main(["--model", "tiny-b158", "--prompt", "def f", "--no-2b4t", "--simulator",
               "verilator", *SMALL, "--out", str(out)])
    assert rc == 0
    report = json.loads(out.read_text())
    layers = report["layers"]
    assert len(layers) == 28 and report["all_bit_exact"] is True
    assert all(la["bit_exact"] and la["m"] == 5 for la in layers)
    # K and N are multiples of the 4x4 array, so every MAC issued is a real one: the counters'
    # zero-weight fraction is the fraction of zeros in the layer's trained weights.
    weights = {name: layer.int_weights().w_t
               for name, layer in load_model("tiny-b158").bitlinears().items()}
    for la in layers:
        zeros = float((weights[la["name"]] == 0).double().mean())
        assert la["zero_weight_fraction"] == pytest.approx(zeros, abs=1e-12), la["name"]
