# SPDX-License-Identifier: BSD-2-Clause
"""``python -m sim.board_throughput --board NAME``: projected tokens/s of a model on a board.

Runs the model's decode on the functional model with the board's accelerator configuration,
through the same runtime as the serial backend (weights resident when they fit the board's
weight memory, else sent with every product), and counts per generated token:

* the bytes the UART carries each way, as :mod:`hw.uart` frames them (escapes, and one SYNC
  and its response per exchange), at 10 bits per byte and the board's baud rate;
* the accelerator's COMPUTE cycles (:func:`golden.contract.tileloop.program_work`, the cycle
  model that is exact against the RTL's counter), at the board's clock.

The projection adds the two (the runtime waits for each product's answer before the next one,
so they do not overlap) and names the larger as the bound. The host's own work (norms,
attention, sampling) is not counted. Writes build/boards/throughput.json.
"""

import argparse
import json
import sys

from firmware.runtime import FunctionalBackend
from golden.contract.paths import build_root
from golden.contract.tileloop import program_work
from hw.boards import BOARDS
from hw.uart import escape

from .generate import check_model, default_model, generate_on

__all__ = ["CountingBackend", "main", "project"]

_SYNC_BYTES = 12        # SYNC(token) out, and its 3-word response in, per exchange


class CountingBackend(FunctionalBackend):
    """The functional model, counting UART bytes and COMPUTE cycles."""

    def __init__(self, config):
        super().__init__(config)
        self.bytes_out = self.bytes_in = self.cycles = 0

    def exchange(self, words):
        response = super().exchange(words)
        wire = b"".join(int(w).to_bytes(4, "little") for w in words)
        back = b"".join(int(w).to_bytes(4, "little") for w in response)
        self.bytes_out += len(escape(wire)) + _SYNC_BYTES
        self.bytes_in += len(escape(back)) + _SYNC_BYTES
        self.cycles += program_work(self.config, words).cycles
        return response


def project(board_name: str, model_name: str, *, tokens: int = 3) -> dict:
    from golden.data import encode
    from golden.formats import load_model

    board = BOARDS[board_name]
    model = load_model(model_name)
    check_model(board.config, model, model_name)
    prompt = encode("The ")
    counts = []
    for n in (1, 1 + tokens):
        backend = CountingBackend(board.config)
        generate_on(backend, model, prompt, tokens=n)
        counts.append((backend.bytes_out, backend.bytes_in, backend.cycles))
    # Per decoded token: the difference of the two runs (same prompt, same resident load).
    out, back, cycles = ((b - a) / tokens for a, b in zip(*counts, strict=True))
    uart_s = 10 * max(out, back) / board.baud
    compute_s = cycles / board.clock_hz
    return {"board": board.name, "model": model_name, "array": f"{board.config.rows}x"
            f"{board.config.cols}", "clock_mhz": board.clock_hz / 1e6, "baud": board.baud,
            "bytes_out_per_token": round(out), "bytes_in_per_token": round(back),
            "compute_cycles_per_token": round(cycles), "uart_s_per_token": uart_s,
            "compute_s_per_token": compute_s,
            "tokens_per_s": 1 / (uart_s + compute_s),
            "bound": "UART" if uart_s >= compute_s else "compute"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim.board_throughput", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--board", action="append", default=None,
                        help=f"one of {', '.join(BOARDS)} (repeatable; default all)")
    parser.add_argument("--model", default=None,
                        help="a committed model or a checkpoint (default: each board's own, "
                             "BOARD-b158)")
    parser.add_argument("--tokens", type=int, default=2)
    args = parser.parse_args(argv)
    boards = args.board or list(BOARDS)
    for name in boards:
        if name not in BOARDS:
            parser.error(f"unknown board {name!r}; choose one of {', '.join(BOARDS)}")
    if args.tokens < 1:
        parser.error(f"--tokens must be positive, not {args.tokens}")
    try:
        results = [project(name, args.model or default_model(name), tokens=args.tokens)
                   for name in boards]
    except (ValueError, FileNotFoundError) as e:
        parser.error(str(e))
    print("| board | model | array | clock | UART | bytes out / in per token | compute cycles "
          "per token | UART s | compute s | tokens/s | bound |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['board']} | {r['model']} | {r['array']} | {r['clock_mhz']:g} MHz | "
              f"{r['baud'] / 1e6:g} Mbaud | "
              f"{r['bytes_out_per_token']} / {r['bytes_in_per_token']} | "
              f"{r['compute_cycles_per_token']} | {r['uart_s_per_token']:.3f} | "
              f"{r['compute_s_per_token']:.4f} | {r['tokens_per_s']:.3f} | {r['bound']} |")
    out = build_root() / "boards" / "throughput.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
