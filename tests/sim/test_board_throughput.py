# SPDX-License-Identifier: BSD-2-Clause
"""``python -m sim.board_throughput``: the board's own model by default, per-token counts from
the difference of two runs, the UART named as the bound when it is; a model the board's
accelerator cannot run, a bad board and a bad token count refused in one line."""

import json

import pytest

from hw.boards import BOARDS
from sim.board_throughput import main, project
from sim.generate import main as generate_main


def test_icebreaker_defaults_to_its_own_model_and_is_uart_bound(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ACCEL_BUILD_DIR", str(tmp_path))
    assert main(["--board", "icebreaker", "--tokens", "1"]) == 0
    assert "| icebreaker | icebreaker-b158 | 2x4 | 24 MHz | 1 Mbaud |" in capsys.readouterr().out
    (result,) = json.loads((tmp_path / "boards" / "throughput.json").read_text())
    board = BOARDS["icebreaker"]
    assert result["model"] == "icebreaker-b158"
    assert result["bytes_out_per_token"] > 0 and result["compute_cycles_per_token"] > 0
    # The UART time is the larger byte count at 10 bits per byte and the board's baud rate.
    assert result["uart_s_per_token"] == pytest.approx(
        10 * max(result["bytes_out_per_token"], result["bytes_in_per_token"]) / board.baud,
        rel=1e-3)
    assert result["compute_s_per_token"] == pytest.approx(
        result["compute_cycles_per_token"] / board.clock_hz, rel=1e-3)
    assert result["bound"] == "UART"
    assert result["tokens_per_s"] == pytest.approx(
        1 / (result["uart_s_per_token"] + result["compute_s_per_token"]))


def test_per_token_counts_do_not_depend_on_the_tokens_counted():
    # Weights load once (resident) in the first run: the difference of the two runs is the
    # steady per-token cost, so one or two counted tokens give the same compute cycles.
    one, two = (project("icebreaker", "icebreaker-b158", tokens=t) for t in (1, 2))
    assert one["compute_cycles_per_token"] == two["compute_cycles_per_token"]


def test_refusals_name_the_bad_value(capsys):
    for argv, message in (
            (["--board", "icebreaker", "--model", "tiny-b158"],
             "model tiny-b158: BitLinear layers.0.attn.q_proj: K=256 exceeds max_k=128"),
            (["--board", "nosuchboard"], "unknown board 'nosuchboard'"),
            (["--tokens", "0"], "--tokens must be positive, not 0"),
            (["--board", "ulx3s", "--model", "nosuchmodel"], "nosuchmodel")):
        with pytest.raises(SystemExit):
            main(argv)
        assert message in capsys.readouterr().err


def test_generate_refuses_a_model_the_board_cannot_run(capsys):
    with pytest.raises(SystemExit):
        generate_main(["--backend", "serial", "--port", "socket://127.0.0.1:1", "--board",
                       "icebreaker", "--model", "tiny-b158", "--tokens", "1"])
    assert "model tiny-b158: BitLinear layers.0.attn.q_proj: K=256 exceeds max_k=128" in \
        capsys.readouterr().err
