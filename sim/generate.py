# SPDX-License-Identifier: BSD-2-Clause
"""``python -m sim.generate``: a golden model generates text with every BitLinear on the RTL.

The model runs twice from the same prompt and seed: on golden's integer path, then with every
BitLinear routed to the accelerator (norms, attention products, softmax and embeddings stay on
the host). The generated tokens must be equal, token for token. The weights of all layers are
loaded into the accelerator's weight memory once and stay resident; by default the weight
memory is sized to hold the whole model (every other field of the configuration is the default
or what the options say).

On a board (``--backend serial --port /dev/ttyUSB0 --board NAME``) the board's memories are
what they are, and the model defaults to the board's own (``NAME-b158``, sized so that its
weights stay resident); ``--simulate-board`` instead of ``--port`` starts the board's logic on
Verilator behind a local socket (:mod:`sim.uart_board`) and generates through its UART.

Reports seconds per token on the RTL (wall time of the whole generation, prompt and the one-time
weight load included, divided by the new tokens) and the tokens; writes build/sim/generate.json
and, unless ``--out`` names another report, the speed figures into build/bench/cosim.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

from golden.contract.config import AcceleratorConfig
from golden.contract.paths import build_root

from .backends import BACKENDS, SIMULATOR_BACKENDS, make_backend

__all__ = ["check_model", "default_model", "generate_on", "main", "model_config"]


def model_config(model, base: AcceleratorConfig) -> AcceleratorConfig:
    """``base`` with a weight memory large enough for every BitLinear of ``model``."""
    from firmware.compiler import compile_weights

    words = sum(len(compile_weights(base, layer.int_weights().w_t.numpy()).words)
                for layer in model.bitlinears().values())
    depth = max(base.weight_depth, 1 << (words - 1).bit_length())
    return dataclasses.replace(base, weight_depth=depth)


def check_model(config: AcceleratorConfig, model, name: str) -> None:
    """Refuse, naming the layer and the value, a model with a BitLinear that ``config`` cannot
    run (for example a K beyond the board's ``max_k``)."""
    from firmware.tiling import check_weights

    for layer_name, layer in model.bitlinears().items():
        try:
            check_weights(config, layer.int_weights().w_t.numpy())
        except ValueError as e:
            raise ValueError(f"model {name}: BitLinear {layer_name}: {e}") from None


def default_model(board: str | None) -> str:
    """The model a command runs when none is named: the board's own (``BOARD-b158``, sized
    to stay resident in its weight memory), else tiny-b158."""
    from golden.formats import BOARD_MODELS

    board_model = f"{board}-b158"
    return board_model if board_model in BOARD_MODELS else "tiny-b158"


def generate_on(backend, model, prompt: list[int], *, tokens: int, temperature: float = 0.0,
                seed: int = 0, stamps: list[float] | None = None) -> tuple[list[int], float, int]:
    """Generate on ``backend``; returns (tokens, seconds, BitLinear calls). ``stamps``, if
    given, receives the time (seconds from the start) at which each call returned."""
    from firmware.runtime import Runtime
    from golden.intpath import use_backend

    rtl_matmul = Runtime(backend).as_matmul()
    calls = 0

    def matmul(x_q, w_t):
        nonlocal calls
        calls += 1
        out = rtl_matmul(x_q, w_t)
        if stamps is not None:
            stamps.append(time.perf_counter() - start)
        return out

    start = time.perf_counter()
    with use_backend(matmul):
        out = model.generate(prompt, max_new_tokens=tokens, temperature=temperature, seed=seed)
    return out, time.perf_counter() - start, calls


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim.generate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None,
                        help="a committed model or a checkpoint (default: with --board, the "
                             "board's model, BOARD-b158; else tiny-b158)")
    parser.add_argument("--prompt", default="The for statement ")
    parser.add_argument("--tokens", type=int, default=16)
    parser.add_argument("--temperature", type=float, default=0.0,
                        help="0 for greedy decoding (default), else sampling with --seed")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--simulator", "--backend", dest="simulator", choices=BACKENDS,
                        default="verilator", help="where the BitLinears run (default verilator)")
    parser.add_argument("--port", default=None,
                        help="the serial backend's port: /dev/ttyUSB0, or socket://host:port "
                             "for a simulated board")
    parser.add_argument("--board", default=None,
                        help="with --backend serial: the board (its accelerator configuration "
                             "and baud rate, hw/boards.py)")
    parser.add_argument("--simulate-board", action="store_true",
                        help="with --backend serial and --board: start the board's logic "
                             "(UART bridge and accelerator) on Verilator behind a local socket "
                             "(sim/uart_board.py) and generate through it; no --port")
    parser.add_argument("--board-divisor", type=int, default=4,
                        help="--simulate-board: clock cycles per UART bit (default 4; the "
                             "bitstream's is the clock over the baud rate)")
    parser.add_argument("--timeout", type=float, default=10.0,
                        help="serial backend: seconds without an answer before giving up")
    parser.add_argument("--out", type=Path, default=None,
                        help="report (default build/sim/generate.json)")
    AcceleratorConfig.add_arguments(parser)
    args = parser.parse_args(argv)
    base = AcceleratorConfig.from_args(args, parser)
    if args.tokens < 1:
        parser.error(f"--tokens must be positive, not {args.tokens}")

    from golden.data import decode, encode
    from golden.formats import load_model

    if args.simulate_board and (args.simulator != "serial" or args.board is None
                                or args.port is not None):
        parser.error("--simulate-board needs --backend serial and --board, and no --port")
    if args.model is None:
        args.model = default_model(args.board)
    try:
        model = load_model(args.model)
    except (ValueError, FileNotFoundError) as e:
        parser.error(str(e))
    prompt = encode(args.prompt)
    if not prompt:
        parser.error("the prompt is empty")
    if args.simulator == "serial":
        if not args.port and not args.simulate_board:
            parser.error("--backend serial needs --port (/dev/ttyUSB0, or socket://host:port)")
        from hw.boards import BOARDS
        if args.board is not None and args.board not in BOARDS:
            parser.error(f"unknown board {args.board!r}; choose one of {', '.join(BOARDS)}")
        board = BOARDS[args.board] if args.board else None
        # A board's memories are what they are: weights that do not fit are sent per product.
        config = board.config if board else base
        try:
            check_model(config, model, args.model)
        except ValueError as e:
            parser.error(str(e))
        options = {"port": args.port, "timeout": args.timeout,
                   **({"baud": board.baud} if board else {})}
    else:
        config = model_config(model, base)
        options = {"work_dir": build_root() / "sim" / f"generate-{args.simulator}"} \
            if args.simulator in SIMULATOR_BACKENDS else {}

    start = time.perf_counter()
    expect = model.generate(prompt, max_new_tokens=args.tokens,
                            temperature=args.temperature, seed=args.seed)
    golden_s = time.perf_counter() - start
    setup = time.perf_counter()
    from golden.contract.isa import CommandError
    stamps: list[float] = []
    link = {}
    board_sim = None
    try:
        if args.simulate_board:
            from .uart_board import SimulatedBoard
            board_sim = SimulatedBoard(config, divisor=args.board_divisor,
                                       fifo_bytes=board.fifo_bytes, simulator="verilator")
            options["port"] = board_sim.url
        with make_backend(args.simulator, config, **options) as backend:
            setup_s = time.perf_counter() - setup
            got, rtl_s, calls = generate_on(backend, model, prompt, tokens=args.tokens,
                                            temperature=args.temperature, seed=args.seed,
                                            stamps=stamps)
            cycles = getattr(backend, "cycles", None)
            if args.simulator == "serial":
                link = {"bytes_out": backend.bytes_out, "bytes_in": backend.bytes_in,
                        "link_errors": backend.link_errors}
        if board_sim is not None:
            board_sim.close()
            cycles, board_sim = board_sim.cycles, None
            link["board_divisor"] = args.board_divisor
    except (ConnectionError, TimeoutError, CommandError) as e:
        if args.simulator != "serial":
            raise
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        if board_sim is not None:
            board_sim.close()
    equal = got == expect
    per_token = rtl_s / args.tokens
    # After the prompt's forward pass (and the one-time weight load it includes): the later
    # tokens alone, one forward pass each.
    per_forward = calls // args.tokens
    decode_s = rtl_s - stamps[per_forward - 1] if args.tokens > 1 and per_forward else None
    print(f"prompt:  {args.prompt!r}")
    print(f"golden:  {decode(expect)!r}")
    print(f"{args.simulator + ':':<9}{decode(got)!r}")
    print(f"tokens equal: {equal}  ({args.tokens} tokens, {calls} BitLinear calls, "
          f"{per_token:.2f} s per token on {args.simulator} after {setup_s:.0f} s of set-up; "
          f"golden {golden_s / args.tokens:.3f} s per token)")
    if decode_s is not None:
        print(f"after the prompt's forward pass (which loads the weights): {args.tokens - 1} "
              f"tokens in {decode_s:.2f} s, {(args.tokens - 1) / decode_s:.3g} tokens/s"
              + (" (simulation speed, not the board's)" if args.simulate_board else ""))
    first_diff = next((i for i, (a, b) in enumerate(zip(got, expect, strict=False)) if a != b),
                      None)
    result = {"model": args.model, "simulator": args.simulator, "prompt": args.prompt,
              "tokens": args.tokens, "temperature": args.temperature, "seed": args.seed,
              "golden_tokens": expect, "rtl_tokens": got, "tokens_equal": equal,
              "first_difference": first_diff, "bitlinear_calls": calls,
              "rtl_seconds_per_token": round(per_token, 3),
              "golden_seconds_per_token": round(golden_s / args.tokens, 4),
              "setup_s": round(setup_s, 1), "cycles": cycles,
              "first_forward_s": round(rtl_s - decode_s, 2) if decode_s is not None else None,
              "decode_tokens_per_s": (round((args.tokens - 1) / decode_s, 3)
                                      if decode_s else None),
              "board": args.board, "simulated_board": args.simulate_board, **link,
              "config": config.to_dict()}
    out = args.out or build_root() / "sim" / "generate.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    if args.out is not None:
        return 0 if equal else 1           # a run with its own report (tests) stays out
    from .benchmarks.records import update_report
    update_report(f"generate_{args.model}_{args.simulator}",
                  {k: result[k] for k in ("rtl_seconds_per_token", "golden_seconds_per_token",
                                          "tokens", "cycles", "bitlinear_calls", "setup_s",
                                          "tokens_equal")})
    return 0 if equal else 1


if __name__ == "__main__":
    sys.exit(main())
