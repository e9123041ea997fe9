# SPDX-License-Identifier: BSD-2-Clause
"""The serial backend against the board's logic at the UART pins (hw.boards.BoardCore in
amaranth.sim or on Verilator, served on a TCP socket by sim.uart_board): products equal
golden's, with random gaps between bytes and a framing error injected, reported and recovered
from; a board model generates golden's tokens through the Verilator board; bad ports and a
silent board give clear errors, never a hang."""

import dataclasses
import json
import socket
import threading
import time

import numpy as np
import pytest

from firmware.runtime import Runtime
from golden.contract.config import AcceleratorConfig
from hw.boards import BOARDS
from sim.backends import BenchTimeout, make_backend
from sim.generate import main as generate_main
from sim.uart_board import SimulatedBoard

#: The iCEBreaker's configuration with small memories (a short simulation).
CONFIG = dataclasses.replace(BOARDS["icebreaker"].config, weight_depth=64, act_depth=32,
                             acc_depth=16, max_load=16)


def _golden(x, w):
    return x.astype(np.int64) @ w.T.astype(np.int64)


@pytest.mark.parametrize("simulator", ["amaranth",
                                       pytest.param("verilator", marks=pytest.mark.cosim)])
def test_products_over_the_uart_equal_golden_with_gaps_and_a_framing_error(simulator):
    rng = np.random.default_rng(7)
    x = rng.integers(-128, 128, (3, 5)).astype(np.int8)
    w = rng.integers(-1, 2, (5, 5)).astype(np.int8)
    x2 = rng.integers(-128, 128, (2, 5)).astype(np.int8)
    # Byte 60 is inside the first product's program (after the READ_STATUS of check_device).
    with SimulatedBoard(CONFIG, divisor=4, fifo_bytes=128, p_gap=0.3, seed=3,
                        inject_framing_error=[60], simulator=simulator) as board, \
            make_backend("serial", CONFIG, port=board.url, timeout=30) as backend:
        assert backend.window == 128
        runtime = Runtime(backend)
        assert np.array_equal(runtime.matmul(x, w), _golden(x, w))
        # The framing error was reported by the bridge and the exchange ran again.
        assert backend.status["framing_errors"] == 1 and backend.link_errors == 1
        assert np.array_equal(runtime.matmul(x2, w), _golden(x2, w))   # weights resident
        assert backend.link_status() == {"framing_errors": 1, "overflows": 0,
                                         "fifo_bytes": 128}
        # The window held: the FIFO never overflowed although the host wrote ahead.
        assert backend.bytes_out > 2 * 128
    # Every byte the host wrote was driven onto the pin, and every byte it read came off it.
    assert board.bytes_in == backend.bytes_out and board.bytes_out == backend.bytes_in
    assert board.cycles > 10 * 4 * board.bytes_in


@pytest.mark.cosim
def test_board_model_generates_golden_tokens_through_the_verilator_board(tmp_path, capsys):
    out = tmp_path / "generate.json"
    rc = generate_main(["--backend", "serial", "--board", "icebreaker", "--simulate-board",
                        "--prompt", "def ", "--tokens", "4", "--out", str(out)])
    result = json.loads(out.read_text())
    assert result["model"] == "icebreaker-b158"          # the board's model by default
    assert rc == 0 and result["tokens_equal"], result
    assert len(result["rtl_tokens"]) == 4 and result["link_errors"] == 0
    assert result["config"] == BOARDS["icebreaker"].config.to_dict()
    # The weights crossed the link once (they stay resident): the host sent less than twice
    # the board's whole weight memory, one 32-bit stream word per 8-bit memory word.
    assert result["bytes_out"] < 2 * 4 * BOARDS["icebreaker"].config.weight_depth
    assert result["cycles"] >= 10 * 4 * result["bytes_out"]        # 4 cycles a bit, 10 bits
    assert "tokens equal: True" in capsys.readouterr().out


def test_serial_backend_bad_ports_and_a_silent_board():
    with pytest.raises(ValueError, match="needs a port"):
        make_backend("serial", CONFIG)
    with pytest.raises(ConnectionError, match="/dev/no-such-tty"):
        make_backend("serial", CONFIG, port="/dev/no-such-tty")
    # Something that accepts the connection and never answers: a timeout, not a hang.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    conns = []
    threading.Thread(target=lambda: conns.append(listener.accept()), daemon=True).start()
    start = time.monotonic()
    with pytest.raises(BenchTimeout, match="no answer from the board"):
        make_backend("serial", CONFIG, port=f"socket://127.0.0.1:{listener.getsockname()[1]}",
                     timeout=1.0)
    assert time.monotonic() - start < 10
    for conn, _ in conns:
        conn.close()
    listener.close()


def test_generate_serial_refuses_bad_options(capsys):
    with pytest.raises(SystemExit):
        generate_main(["--backend", "serial", "--tokens", "1"])
    assert "--backend serial needs --port" in capsys.readouterr().err
    for argv in (["--simulate-board", "--board", "ulx3s"],
                 ["--backend", "serial", "--simulate-board"],
                 ["--backend", "serial", "--simulate-board", "--board", "ulx3s", "--port",
                  "socket://127.0.0.1:1"]):
        with pytest.raises(SystemExit):
            generate_main(argv)
        assert "--simulate-board needs --backend serial and --board, and no --port" in \
            capsys.readouterr().err
    with pytest.raises(SystemExit):
        generate_main(["--backend", "serial", "--port", "socket://127.0.0.1:1", "--board",
                       "nosuchboard"])
    assert "unknown board 'nosuchboard'" in capsys.readouterr().err
    assert generate_main(["--backend", "serial", "--port", "socket://127.0.0.1:1",
                          "--tokens", "1"]) == 1
    assert "cannot open the serial port" in capsys.readouterr().err


def test_simulated_board_refuses_bad_options():
    with pytest.raises(ValueError, match="unknown board simulator 'icarus'"):
        SimulatedBoard(CONFIG, simulator="icarus")
    with pytest.raises(ValueError, match=r"p_gap must be a probability in \[0, 1\), not 1.5"):
        SimulatedBoard(CONFIG, p_gap=1.5)
    with pytest.raises(ValueError, match=r"byte indices .* not \[-1\]"):
        SimulatedBoard(CONFIG, inject_framing_error=[-1])


def test_simulated_board_default_config_is_the_boards():
    assert AcceleratorConfig.from_dict(CONFIG.to_dict()) == CONFIG
