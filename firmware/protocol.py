# SPDX-License-Identifier: BSD-2-Clause
"""``python -m firmware.protocol``: render PROTOCOL.md, the command protocol for driver authors.

Every table of the document (header layouts, opcodes and their words, flags, status fields,
counters, limits) and every worked example comes from the contract (:mod:`golden.contract.isa`,
:class:`golden.contract.config.AcceleratorConfig`) and the functional model, so the document
cannot drift from the gateware: a test renders it and compares it with the committed file. The
descriptions of opcodes, flags and counters are the ``#:`` comments of their enum members in
golden/contract/isa.py. ``--check`` exits 1 when the committed file is stale.
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys
from pathlib import Path

from golden.contract import isa
from golden.contract.config import WEIGHT_FORMATS, WEIGHT_MEMORIES, AcceleratorConfig
from golden.contract.paths import repo_root

from . import commands
from .functional import FunctionalAccelerator

__all__ = ["PROTOCOL_PATH", "member_docs", "render_protocol"]

PROTOCOL_PATH = repo_root() / "PROTOCOL.md"
#: The configuration of the worked examples: small enough to read every word.
EXAMPLE_CONFIG = AcceleratorConfig(rows=2, cols=2, act_bits=8, acc_bits=20, max_k=1024,
                                   weight_depth=64, act_depth=64, acc_depth=16, max_load=16)


def member_docs(enum_class) -> dict[str, str]:
    """The ``#:`` comment lines above each member of an enum in its source, joined."""
    docs, pending = {}, []
    for line in inspect.getsource(enum_class).splitlines()[1:]:
        stripped = line.strip()
        if stripped.startswith("#:"):
            pending.append(stripped[2:].strip())
        elif (found := re.match(r"([A-Z_0-9]+)\s*=", stripped)) is not None:
            docs[found.group(1)] = " ".join(pending)
            pending = []
        else:
            pending = []
    missing = [m.name for m in enum_class if not docs.get(m.name)]
    if missing:
        raise ValueError(f"{enum_class.__name__} members without a #: description: "
                         f"{', '.join(missing)}")
    return docs


def _rst(text: str) -> str:
    """Sphinx roles and double backquotes of the docstrings, as Markdown code."""
    text = re.sub(r":[a-z]+:`~?([^`]+)`", lambda m: f"`{m.group(1).split('.')[-1]}`", text)
    return text.replace("``", "`")


def _layout_table(layout) -> list[str]:
    rows = ["| bits | field | value |", "|---|---|---|"]
    fixed = {"sync": f"{isa.SYNC:#04x}", "reserved": "0", "pad": "0"}
    for name, field in sorted(layout, key=lambda item: -item[1].offset):
        hi = field.offset + field.width - 1
        rows.append(f"| [{hi}:{field.offset}] | {name} | {fixed.get(name, '')} |")
    return rows


def _hex(words) -> str:
    return " ".join(f"{w:08x}" for w in words)


def _example(title: str, words, model: FunctionalAccelerator) -> list[str]:
    response = model.run(words)
    out = [f"**{title}**", "", "```", f"cmd  {_hex(words)}"]
    if response:
        out.append(f"resp {_hex(response)}")
    out += ["```", ""]
    return out


def _examples() -> list[str]:
    cfg = EXAMPLE_CONFIG
    model = FunctionalAccelerator(cfg)
    out = [f"In a {cfg.rows}x{cfg.cols} accelerator (`{cfg.to_json()}`), from reset. "
           "Words in hexadecimal, in stream order.", ""]
    out += _example("READ_STATUS: the device describes itself", commands.read_status(),
                    model)
    out += _example("LOAD_WEIGHTS of two rows at address 0: weights [[+1, -1], [0, +1]] "
                    "(codes 01 11 / 00 01, column 0 in the low bits)",
                    commands.load_weights(cfg, 0, [0b11_01, 0b01_00]), model)
    out += _example("LOAD_ACTS of one vector at address 0: activations [3, -2]",
                    commands.load_acts(cfg, 0, [(3 & 0xFF) | ((-2 & 0xFF) << 8)]), model)
    out += _example("MATMUL of m=1, k_tiles=1, n_tiles=1 into accumulator word 0",
                    commands.matmul(w_addr=0, a_addr=0, acc_addr=0, m=1, k_tiles=1,
                                    n_tiles=1), model)
    out += _example("DRAIN of accumulator word 0: [3*1 + -2*0, 3*-1 + -2*1] = [3, -5]",
                    commands.drain(0, 1), model)
    bad = commands.drain(0, 1)
    out += _example("The same DRAIN with one bit of its CRC flipped: refused, BAD_CRC in the "
                    "header", [*bad[:-1], bad[-1] ^ 1], model)
    out += _example("Resynchronization: NOPs, CLEAR of the flags, SYNC(0x12345678)",
                    commands.resync(cfg, 0x1234_5678), model)
    return out


def render_protocol() -> str:
    opcode_docs = member_docs(isa.Opcode)
    flag_docs = member_docs(isa.ErrorFlag)
    counter_docs = member_docs(isa.Counter)
    default = AcceleratorConfig()
    status = dict(zip(isa.STATUS_FIELDS, isa.status_payload(default, 0), strict=True))
    lines = [
        "# The command protocol of the ternary accelerator",
        "",
        f"Command-set version {isa.VERSION}. Generated by `python -m firmware.protocol` from "
        "`golden/contract/` (the tables, limits and worked examples) and kept equal to it by "
        "the tests: edit the contract or `firmware/protocol.py`, not this file.",
        "",
        "## Ports and handshake",
        "",
        "The generated Verilog module `accelerator` (`python -m hw --design accelerator`) has "
        "one clock and these ports:",
        "",
        "| port | dir | width | meaning |",
        "|---|---|---|---|",
        "| `clk` | in | 1 | the clock; everything is synchronous to its rising edge |",
        "| `rst` | in | 1 | synchronous, active-high reset |",
        "| `cmd__valid`, `cmd__ready`, `cmd__payload` | in, out, in | 1, 1, 32 | the command "
        "stream |",
        "| `resp__valid`, `resp__ready`, `resp__payload` | out, in, out | 1, 1, 32 | the "
        "response stream |",
        f"| `errors` | out | {len(isa.ErrorFlag)} | the sticky error flags (below) |",
        "| `busy` | out | 1 | a command is in progress |",
        "",
        "With `weight_memory` = axi (weights in external memory) the module also has an AXI4 "
        "read manager port, `m_axi_arid`, `m_axi_araddr` (`axi_addr_width` bits), "
        "`m_axi_arlen`, `m_axi_arsize`, `m_axi_arburst` (INCR), `m_axi_arvalid`, "
        "`m_axi_arready`, `m_axi_rid`, `m_axi_rdata` (the weight word), `m_axi_rresp`, "
        "`m_axi_rlast`, `m_axi_rvalid`, `m_axi_rready` (held high); MATMUL's `w_addr` is then "
        "a byte address in that memory, a multiple of the weight word's bytes, where the "
        "MATMUL's tiles lie as in weight memory; LOAD_WEIGHTS raises OVERRUN (there is no "
        "weight memory). PREFETCH(w_addr, tiles) names the weights of the MATMUL after the "
        "next one: the next MATMUL reads them once it has taken its own words, and a MATMUL "
        "with that `w_addr` and `n_tiles * k_tiles` = tiles then takes them without waiting "
        "for the memory's latency; another MATMUL discards them first (it costs their words' "
        "cycles). Results never depend on PREFETCH.",
        "",
        "Both streams follow the AXI4-Stream rule (they are `amaranth.lib.stream` streams): a "
        "word moves in a cycle where `valid` and `ready` are both high; a sender keeps `valid` "
        "high and the payload unchanged until the word is taken; `valid` never waits for "
        "`ready`. The accelerator may hold `cmd__ready` low for any number of cycles (a MATMUL, "
        "a response being sent) and sends responses only as fast as `resp__ready` allows.",
        "",
        "**Reset** clears the error flags, the counters, a partly received command and a "
        "response in progress; the weight memory, the activation buffer and the accumulator "
        "buffer keep their contents. A load is written only after its CRC word (see LOAD), so "
        "a reset during its data phase writes nothing; a reset during a MATMUL leaves that "
        "MATMUL's accumulator range partly written.",
        "",
        "## Words",
        "",
        "A command is a header word, its argument words, for the loads `count` memory words of "
        "data, and a CRC word. NOP is the only command without arguments or CRC word. A "
        "response is a header word, a payload and a CRC word.",
        "",
        "Command header:",
        "",
        *_layout_table(isa.COMMAND_HEADER),
        "",
        "Response header (`errors`: the flags as they are when the header is sent):",
        "",
        *_layout_table(isa.RESPONSE_HEADER),
        "",
        "**CRC word.** CRC-32 of IEEE 802.3, exactly `zlib.crc32` (reflected polynomial "
        "0xEDB88320, initial value and final XOR 0xFFFFFFFF), over the bytes of the words "
        "before it, each word little-endian (bits 7:0 first). A command's CRC covers its "
        "header, arguments and data; a response's CRC covers its header and payload. A "
        "command acts only after its CRC word has arrived and matched.",
        "",
        "**Memory words.** A weight-memory or activation-buffer word travels as "
        "`ceil(width / 32)` stream words, least significant first, the last padded with "
        "zeros. Element i of a word occupies bits [i*w, (i+1)*w): activation lane i "
        "(`w = act_bits`, two's complement). A weight-memory word is `W = "
        "weight_rows_per_cycle` lanes of `cols` elements (lane r's column j is element "
        "`r * cols + j`): in the `2bit` format 2-bit codes (`w = 2`: 00 = 0, 01 = +1, 11 = "
        "-1, 10 illegal), lane r holding row r of the word's W rows; in the `1.6bit` format "
        "bytes (`w = 8`), lane r's byte of column j holding rows r, r + W, ..., r + 4W of "
        "the word's 5W rows as `ceil(v * 256 / 243)` of their base-3 value `v = sum((w_s + "
        "1) * 3**(4 - s))`, the first row most significant (at W = 1: one row per word, or "
        "five consecutive rows per byte). With `weight_memory` = axi the `1.6bit` word is "
        "decoded whole, one beat per word: W must be a multiple of 5 and the word is "
        "`L = W / 5` lanes, lane r's byte holding rows r, r + L, ..., r + 4L of the word's "
        "W rows (the same layout as the on-chip word of L lanes). A MATMUL reads "
        "`n_tiles * k_tiles` tiles of "
        "`tile_rows = ceil(rows / W) * W` consecutive weight-row slots from the first row "
        "of word `w_addr` (tile (n, k) from slot `((n * k_tiles) + k) * tile_rows`, the slots "
        "beyond `rows` zero); the row stream runs on across tiles and words. DRAIN "
        "sends each accumulator as one 32-bit word, sign-extended from `acc_bits`.",
        "",
        "## Commands",
        "",
        "| opcode | command | arguments | then | response payload |",
        "|---|---|---|---|---|",
    ]
    arg_names = {
        isa.Opcode.LOAD_WEIGHTS: "address, count", isa.Opcode.LOAD_ACTS: "address, count",
        isa.Opcode.MATMUL: "w_addr, a_addr, acc_addr, m, k_tiles, n_tiles",
        isa.Opcode.DRAIN: "address, count", isa.Opcode.CLEAR: "magic",
        isa.Opcode.SYNC: "token", isa.Opcode.PREFETCH: "w_addr, tiles"}
    payloads = {isa.Opcode.DRAIN: "count x cols accumulators",
                isa.Opcode.READ_COUNTERS: f"{isa.COUNTER_WORDS} words (counters, below)",
                isa.Opcode.READ_STATUS: f"{isa.STATUS_WORDS} words (status, below)",
                isa.Opcode.SYNC: "the token"}
    for op in isa.Opcode:
        args = arg_names.get(op, "")
        assert len(args.split(", ")) == isa.ARG_WORDS[op] or not (args or isa.ARG_WORDS[op])
        then = {isa.Opcode.NOP: "", isa.Opcode.LOAD_WEIGHTS: "count memory words, CRC",
                isa.Opcode.LOAD_ACTS: "count memory words, CRC"}.get(op, "CRC")
        lines.append(f"| {op.value} | {op.name} | {args} | {then} | "
                     f"{payloads.get(op, 'none')} |")
    lines += ["", *(f"* **{op.name}**: {_rst(opcode_docs[op.name])}" for op in isa.Opcode), "",
              f"MATMUL flag: ACCUMULATE = {isa.MatmulFlag.ACCUMULATE.value} (add to the "
              "accumulators instead of overwriting them on the first K tile). CLEAR flags: "
              + ", ".join(f"{f.name} = {f.value}" for f in isa.ClearFlag)
              + f"; the magic word is {isa.CLEAR_MAGIC:#010x}.",
              "",
              "**Checks.** Arguments at or above 2**"
              f"{isa.ARG_LIMIT_BITS} are out of range for every buffer. A load's count must "
              "be 1 to `max_load`, else BAD_SHAPE at once and the load ends after its "
              "arguments (no data, no CRC word: the words that follow are read as commands); "
              "its range must end within its memory. DRAIN's count must be "
              "at least 1. MATMUL needs m, k_tiles and n_tiles at least 1 and k_tiles <= "
              "max_k / rows (else BAD_SHAPE); its weight rows, `m * k_tiles` activation words "
              "and `n_tiles * m` accumulator words must fit (else OVERRUN). PREFETCH (axi only, "
              "else BAD_SHAPE) needs tiles from 1 to `min(max_k / rows, act_depth) * "
              "acc_depth` (else BAD_SHAPE) and its weight words to fit as MATMUL's (else "
              "OVERRUN); a refused PREFETCH records nothing. A response command "
              "that is refused (bad CRC; for DRAIN also a bad shape, an overrun or any flag "
              "already set) answers with its header and CRC word alone.",
              "",
              "## Error flags",
              "",
              "Sticky: once raised, a flag stays until CLEAR with the ERRORS flag and the magic "
              "word (or reset). While any flag is set, loads, MATMULs and PREFETCHes are consumed "
              "but not "
              "executed and DRAIN sends no data; NOP, READ_STATUS, READ_COUNTERS, SYNC and "
              "CLEAR work as usual.",
              "",
              "| bit value | flag | raised when |", "|---|---|---|",
              *(f"| {f.value} | {f.name} | {_rst(flag_docs[f.name])} |" for f in isa.ErrorFlag),
              "",
              "## READ_STATUS: the device describes itself",
              "",
              "| word | field | default configuration |", "|---|---|---|",
              *(f"| {i} | {name} | {value} |" for i, (name, value) in enumerate(status.items())),
              "",
              "`weight_format` is an index into (" + ", ".join(WEIGHT_FORMATS) + "), "
              "`weight_memory` into (" + ", ".join(WEIGHT_MEMORIES) + "); the AXI fields "
              "matter only with `weight_memory` = axi. A host "
              "checks these against the configuration its program was built for before running "
              "it (`firmware.runtime.Backend.check_device`).",
              "",
              "## READ_COUNTERS",
              "",
              f"Each counter is {isa.COUNTER_BITS} bits, sent as two words, low first, in this "
              "order; all are taken at the same instant.",
              "",
              "| index | counter | counts |", "|---|---|---|",
              *(f"| {c.value} | {c.name} | {_rst(counter_docs[c.name])} |" for c in isa.Counter),
              "",
              "## Resynchronization without reset",
              "",
              "No command is longer than `max_command_words` = 1 + 2 + `max_load` x "
              "`ceil(max(weight word, activation word) / 32)` + 1 words (or MATMUL's 8, if "
              f"more): {isa.max_command_words(default)} for the default configuration. So "
              "whatever the accelerator was doing when words were lost, duplicated or "
              "corrupted, that many NOP words end the command it is in (its CRC fails, it does "
              "not act) and leave it reading headers. A host that has lost track (a response "
              "that does not come, a bad response CRC, a flag it did not expect) sends those "
              "NOPs, then CLEAR(ERRORS, magic) and SYNC(token) with a fresh token, and "
              "discards response words until it reads a SYNC response carrying its token: "
              "both streams are then in step (`firmware.commands.resync`). Responses "
              "to stray commands before that point are discarded with the rest.",
              "",
              "## Worked examples",
              "",
              *_examples()]
    return "\n".join(lines).rstrip() + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m firmware.protocol", description=__doc__)
    parser.add_argument("--out", type=Path, default=PROTOCOL_PATH,
                        help=f"where to write (default: {PROTOCOL_PATH.name} in the repository)")
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 if the file differs from the contract")
    args = parser.parse_args(argv)
    text = render_protocol()
    if args.check:
        current = args.out.read_text() if args.out.exists() else ""
        if current != text:
            print(f"{args.out} is stale: run python -m firmware.protocol", file=sys.stderr)
            return 1
        return 0
    args.out.write_text(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
