# SPDX-License-Identifier: BSD-2-Clause
"""``python -m sim.benchmarks.decode``: a 2B-4T layer on the RTL with weights over AXI, and the
decode projection beside bitnet-kv260."""

import json

import pytest

from sim.benchmarks.decode import main


def test_projection_is_printed_and_recorded(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ACCEL_BUILD_DIR", str(tmp_path))
    assert main(["--no-rtl", "--mem-gbps", "19.2", "--clock-mhz", "200"]) == 0
    out = capsys.readouterr().out
    assert "bitnet-kv260: 16.78 tokens/s measured" in out and "LM head" in out
    record = json.loads((tmp_path / "bench" / "decode.json").read_text())
    p, = record["projections"]
    assert len(p["layers"]) == 7 and p["model"] == "2B-4T"
    assert (f"tokens/s {p['tokens_per_s']:.2f}, {p['prefetch_tokens_per_s']:.2f} with PREFETCH "
            f"({p['bound']} bound") in out
    assert p["prefetch_tokens_per_s"] > p["tokens_per_s"]
    assert record["bitnet_kv260"]["memory_bound_at_this_bandwidth"] == pytest.approx(
        19.2e9 / 483e6)


@pytest.mark.parametrize("prefetch", [False, True])
def test_an_unsliced_layer_on_the_rtl_equals_the_memory_model(tmp_path, monkeypatch, capsys,
                                                              prefetch):
    """k_proj and v_proj of 2B-4T (640 x 2560) at M = 1 on an 8x8 array, 4 weight rows per
    cycle, their weights streamed from AxiRamRead: bit-exact, and COMPUTE equal to the memory
    model; with PREFETCH (51,200 words each, far more than the reader's buffer of 64, at the
    memory's pace) the latency of each MATMUL is gone."""
    monkeypatch.setenv("ACCEL_BUILD_DIR", str(tmp_path))
    small = ["--act-depth", "512", "--acc-depth", "128", "--weight-depth", "64"]  # quick build
    assert main(["--widths", "4", "--layers", "k_proj", "v_proj", "--rows", "8", "--cols",
                 "8", "--clock-mhz", "200", *small, *(["--prefetch"] if prefetch else [])]) == 0
    record = json.loads((tmp_path / "bench" / "decode.json").read_text())
    runs = record["rtl"]["layers"]
    assert [r["layer"] for r in runs] == ["k_proj", "v_proj"]
    assert all(r["prefetched"] == prefetch for r in runs)
    # Beyond the tile loop: the memory's latency and the first tile (24 cycles with bursts of
    # 16 words), or with the words prefetched the prologue's one cycle.
    assert all((r["cycles"] - r["tile_loop_cycles"] == 1) == prefetch for r in runs), runs
    assert all(r["bit_exact"] for r in runs)
    assert all(r["cycles"] == r["model_cycles"] for r in runs), runs
    assert all(r["utilization"] > 0.49 for r in runs)      # two beats per tile: P = 2
    assert record["projections"][0]["rows"] == 8


def test_arrays_project_1_6bit_weights_over_axi(tmp_path, monkeypatch, capsys):
    """--arrays: 2-bit 32x16 at W = 32 and 1.6-bit 40x16 at W = 40 (one 1024-bit word per
    tile), projected side by side; the 1.6-bit words cost 1.6 bits per weight plus down_proj's
    padding, and the model puts 1.6-bit decode above the issue's 41 tokens/s at 200 MHz and
    19.2 GB/s."""
    monkeypatch.setenv("ACCEL_BUILD_DIR", str(tmp_path))
    assert main(["--no-rtl", "--mem-gbps", "19.2", "--clock-mhz", "200",
                 "--arrays", "32x16:32:2bit,40x16:40:1.6bit"]) == 0
    two, one_six = json.loads((tmp_path / "bench" / "decode.json").read_text())["projections"]
    assert (two["rows"], two["bits_per_weight"]) == (32, 2.0)
    assert one_six["rows"] == 40 and 1.6 < one_six["bits_per_weight"] < 1.601
    assert one_six["memory_bound_tokens_per_s"] == pytest.approx(46.05, abs=0.01)
    assert one_six["tokens_per_s"] > 41 and one_six["fraction_of_memory_bound"] > 0.9
    assert "40x16 array, 40 weight row(s) per cycle, 1.6 bits/weight (1.6bit, 1024-bit " \
        "words)" in capsys.readouterr().out


def test_bad_arguments_are_refused_by_name(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--no-rtl", "--mem-gbps", "0"])
    assert e.value.code == 2
    assert "gbytes_per_s must be a positive number, not 0.0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--widths", "2", "--rows", "8", "--cols", "8"])
    assert "a power of two from 64 to 1024 bits, not 32" in capsys.readouterr().err
    for spec, message in (("40x16:40", "'40x16:40' is not ROWSxCOLS:W:FORMAT"),
                          ("40x16:8:1.6bit", "weight_rows_per_cycle must be a multiple of 5, "
                           "not 8")):
        with pytest.raises(SystemExit):
            main(["--no-rtl", "--arrays", spec])
        assert message in capsys.readouterr().err
