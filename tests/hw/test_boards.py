# SPDX-License-Identifier: BSD-2-Clause
"""Board top levels (hw/boards.py) and the UART bridge (hw/uart.py): the PLL settings, the
bridge's framing at the pins, the board table, and the clear errors of the CLI."""

import pytest
from amaranth.sim import Simulator

from hw.__main__ import main as hw_main
from hw.boards import BOARDS, BoardTop, ecp5_pll, get_board, ice40_pll, program
from hw.uart import ESC, ESC_DATA, ESC_STATUS, UartBridge, escape, status_fields


def test_pll_settings():
    # icepll / ecppll give these for the boards' clocks.
    assert ice40_pll(12_000_000, 12_000_000) == {"DIVR": 0, "DIVF": 63, "DIVQ": 6,
                                                 "FILTER_RANGE": 1}
    assert ecp5_pll(25_000_000, 50_000_000) == {"CLKI_DIV": 1, "CLKFB_DIV": 2, "CLKOP_DIV": 12,
                                                "CLKOP_CPHASE": 5}
    with pytest.raises(ValueError, match="no iCE40 PLL setting makes 12345 Hz"):
        ice40_pll(12_000_000, 12345)


def test_boards_and_their_bad_names(capsys):
    for board in BOARDS.values():
        assert board.clock_hz % board.baud == 0 and board.divisor >= 4
    with pytest.raises(ValueError, match="unknown board 'nexys'"):
        get_board("nexys")
    assert hw_main(["bitstream", "--board", "nexys"]) == 1
    assert "unknown board 'nexys'; choose one of icebreaker, ulx3s" in capsys.readouterr().err


def test_program_without_a_bitstream_says_what_to_do(tmp_path):
    with pytest.raises(RuntimeError, match="make bitstream BOARD=ulx3s"):
        program(BOARDS["ulx3s"], bitstream=tmp_path / "none.bit")


@pytest.mark.parametrize("name", list(BOARDS))
def test_board_top_elaborates_on_its_platform(name):
    board = BOARDS[name]
    plan = board.platform().build(BoardTop(board), do_build=False,
                                  emit_debug_verilog=False)
    assert "top.il" in plan.files


def _bridge_run(host_bytes, *, divisor=4, stop_bits=None, cycles=4000):
    """Drive ``host_bytes`` into a UartBridge whose cmd stream loops back into resp; return
    (words it passed on, bytes it sent)."""
    dut = UartBridge(divisor, fifo_bytes=16)
    words, sent = [], []

    async def drive(ctx):
        ctx.set(dut.rx, 1)
        await ctx.tick().repeat(8)
        for i, byte in enumerate(host_bytes):
            stop = 1 if stop_bits is None else stop_bits[i]
            for bit in [0, *((byte >> k) & 1 for k in range(8)), stop]:
                ctx.set(dut.rx, bit)
                await ctx.tick().repeat(divisor)
            ctx.set(dut.rx, 1)
            await ctx.tick().repeat(2 * divisor)

    async def loop(ctx):
        # cmd -> resp, so every word comes back through the transmitter
        async for _, _, valid, payload, ready in ctx.tick().sample(
                dut.cmd.valid, dut.cmd.payload, dut.resp.ready):
            ctx.set(dut.cmd.ready, ready)
            ctx.set(dut.resp.valid, valid)
            ctx.set(dut.resp.payload, payload)
            if valid and ready:
                words.append(payload)

    async def listen(ctx):
        while True:
            while ctx.get(dut.tx):
                await ctx.tick()
            await ctx.tick().repeat(divisor // 2)
            byte = 0
            for k in range(8):
                await ctx.tick().repeat(divisor)
                byte |= ctx.get(dut.tx) << k
            await ctx.tick().repeat(divisor)
            assert ctx.get(dut.tx) == 1
            sent.append(byte)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(drive)
    sim.add_testbench(loop, background=True)
    sim.add_testbench(listen, background=True)

    async def wait(ctx):
        await ctx.tick().repeat(cycles)
    sim.add_testbench(wait)
    sim.run()
    return words, bytes(sent)


def test_bridge_escapes_both_ways_and_reports_framing_errors():
    data = bytes([0x01, ESC, 0x03, 0x04, 0xB5, 0x00, ESC, 0x08])
    words, sent = _bridge_run(escape(data) + bytes([ESC, ESC_STATUS]))
    assert words == [0x0403DB01, 0x08DB00B5]
    # The status frame goes out between any two bytes of the response stream.
    frame = bytes([ESC, ESC_STATUS, 0, 0, 0, 0, 16, 0])
    at = sent.find(frame)
    assert at >= 0 and sent[:at] + sent[at + len(frame):] == escape(data)
    # A low stop bit: the byte is dropped, counted and reported at once; the host's
    # ESC ESC_STATUS then re-aligns the words.
    host = bytes([0x11, 0x22, 0x33, ESC, ESC_STATUS, 1, 2, 3, 4])
    stops = [1, 0, 1, 1, 1, 1, 1, 1, 1]
    words, sent = _bridge_run(host, stop_bits=stops)
    assert words == [0x04030201]
    frames = [status_fields(sent[i + 2:i + 8]) for i in range(len(sent) - 7)
              if sent[i:i + 2] == bytes([ESC, ESC_STATUS])]
    assert frames[0] == {"framing_errors": 1, "overflows": 0, "fifo_bytes": 16}
    assert ESC_DATA not in sent
