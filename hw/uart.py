# SPDX-License-Identifier: BSD-2-Clause
"""A UART link to the accelerator: bytes on two pins to and from its 32-bit word streams.

::

    rx pin ─► UartRx ─► receive FIFO ─► unescape ─► 4 bytes -> word ─► cmd (32-bit words)
    tx pin ◄─ UartTx ◄─ escape + status frames ◄─ word -> 4 bytes ◄──── resp (32-bit words)

**Framing (both directions).** Words travel least significant byte first. The byte
:data:`ESC` (0xDB) is escaped: a data byte 0xDB travels as ``ESC ESC_DATA`` (0xDB 0xDD). The
host sends ``ESC ESC_STATUS`` (0xDB 0x53) to ask for the bridge's status, which also drops a
partly received word (re-aligns the word stream); the bridge answers, and also sends of its
own accord after every framing error or overflow, a status frame: ``ESC ESC_STATUS`` and
:data:`STATUS_BYTES` raw bytes, little-endian 16-bit fields: framing errors, overflows and the
capacity of the receive FIFO in bytes (counters saturate). A frame may come between any two
bytes of the response stream; the host takes it out.

**Flow control: a window the host respects.** The bridge never holds the rx line: bytes land
in the receive FIFO at the line rate, and the accelerator takes words from it when it can (it
may hold ``cmd.ready`` low through a MATMUL or a long response). The host ends each batch of
commands with a SYNC(token) and never has more bytes (as sent on the wire, escapes included)
outstanding than the FIFO holds, a byte being outstanding until the SYNC response that follows
it has come back: that response proves the accelerator has read every word before it, so the
FIFO cannot overflow and no byte is lost whatever the baud rate. (The capacity is in every
status frame, so the host learns it from the device.) A byte that arrives at a full FIFO is
dropped and counted as an overflow anyway.

**Framing errors.** A byte whose stop bit is low (noise, a wrong baud rate, a break) is
dropped and counted, and a status frame goes out; since a byte is missing, the host re-aligns
(``ESC ESC_STATUS``) and resynchronizes the accelerator (NOPs, CLEAR, SYNC), then runs its
program again.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

__all__ = ["ESC", "ESC_DATA", "ESC_STATUS", "MIN_DIVISOR", "STATUS_BYTES", "UartBridge",
           "UartRx", "UartTx", "check_divisor", "escape", "status_fields"]

ESC = 0xDB
ESC_DATA = 0xDD
ESC_STATUS = 0x53
#: Bytes of a status frame after ``ESC ESC_STATUS``: framing errors, overflows, FIFO bytes.
STATUS_BYTES = 6
#: Fewest clock cycles per bit the receiver samples correctly (it samples mid-bit).
MIN_DIVISOR = 4


def check_divisor(divisor) -> int:
    if isinstance(divisor, bool) or not isinstance(divisor, int) or divisor < MIN_DIVISOR:
        raise ValueError(f"the UART divisor (clock cycles per bit) must be an integer of at "
                         f"least {MIN_DIVISOR}, not {divisor!r}")
    return divisor


def escape(data: bytes) -> bytes:
    """``data`` as it travels on the link (each 0xDB doubled as ``ESC ESC_DATA``)."""
    return bytes(data).replace(bytes([ESC]), bytes([ESC, ESC_DATA]))


def status_fields(frame: bytes) -> dict[str, int]:
    """The fields of a status frame's :data:`STATUS_BYTES` bytes."""
    if len(frame) != STATUS_BYTES:
        raise ValueError(f"a status frame has {STATUS_BYTES} bytes, not {len(frame)}")
    values = [int.from_bytes(frame[i:i + 2], "little") for i in range(0, STATUS_BYTES, 2)]
    return dict(zip(("framing_errors", "overflows", "fifo_bytes"), values, strict=True))


class UartRx(wiring.Component):
    """8N1 receiver, ``divisor`` clock cycles per bit.

    Members
    -------
    rx : In(1)
        The line (idle high); synchronized here.
    data : Out(stream.Signature(8))
        Received bytes, valid for one cycle each: a byte not taken is lost (``overrun``).
    framing_error : Out(1)
        One-cycle pulse: a byte's stop bit was low; the byte is dropped.
    overrun : Out(1)
        One-cycle pulse: a byte arrived while ``data.ready`` was low; it is dropped.
    """

    rx: In(1, init=1)
    data: Out(stream.Signature(8))
    framing_error: Out(1)
    overrun: Out(1)

    def __init__(self, divisor: int):
        self.divisor = check_divisor(divisor)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        d = self.divisor
        rx = Signal(init=1)
        m.submodules.sync = FFSynchronizer(self.rx, rx, init=1)
        timer = Signal(range(d))
        bits = Signal(range(9))
        shift = Signal(8)
        with m.If(timer != 0):
            m.d.sync += timer.eq(timer - 1)
        m.d.comb += self.data.payload.eq(shift)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(~rx):
                    # Two cycles went by in the synchronizer: sample near mid-bit.
                    m.d.sync += timer.eq(max(d // 2 - 2, 0))
                    m.next = "START"
            with m.State("START"):
                with m.If(timer == 0):
                    with m.If(rx):                      # a glitch, not a start bit
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += [timer.eq(d - 1), bits.eq(0)]
                        m.next = "DATA"
            with m.State("DATA"):
                with m.If(timer == 0):
                    m.d.sync += [shift.eq(Cat(shift[1:], rx)), bits.eq(bits + 1),
                                 timer.eq(d - 1)]
                    with m.If(bits == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                with m.If(timer == 0):
                    with m.If(rx):
                        m.d.comb += self.data.valid.eq(1)
                        m.d.comb += self.overrun.eq(~self.data.ready)
                        m.next = "IDLE"
                    with m.Else():
                        m.d.comb += self.framing_error.eq(1)
                        m.next = "BREAK"
            with m.State("BREAK"):                      # wait for the line to go idle
                with m.If(rx):
                    m.next = "IDLE"
        return m


class UartTx(wiring.Component):
    """8N1 transmitter, ``divisor`` clock cycles per bit.

    Members
    -------
    data : In(stream.Signature(8))
        Bytes to send.
    tx : Out(1)
        The line (idle high).
    """

    data: In(stream.Signature(8))
    tx: Out(1, init=1)

    def __init__(self, divisor: int):
        self.divisor = check_divisor(divisor)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        d = self.divisor
        timer = Signal(range(d))
        bits = Signal(range(11))
        shift = Signal(10, init=1)
        m.d.comb += self.tx.eq(shift[0])
        with m.If(bits == 0):
            m.d.comb += self.data.ready.eq(1)
            with m.If(self.data.valid):
                m.d.sync += [shift.eq(Cat(Const(0, 1), self.data.payload, Const(1, 1))),
                             bits.eq(10), timer.eq(d - 1)]
        with m.Elif(timer != 0):
            m.d.sync += timer.eq(timer - 1)
        with m.Else():
            m.d.sync += [shift.eq(Cat(shift[1:], Const(1, 1))), bits.eq(bits - 1),
                         timer.eq(d - 1)]
        return m


class UartBridge(wiring.Component):
    """The byte link between a host and the accelerator's word streams (see the module
    docstring for the framing and the flow control).

    Parameters
    ----------
    divisor : int
        Clock cycles per bit (the clock frequency over the baud rate).
    fifo_bytes : int
        Capacity of the receive FIFO (the host's window).

    Members
    -------
    rx, tx : the UART pins
    cmd : Out(stream.Signature(32))
        To the accelerator's command stream.
    resp : In(stream.Signature(32))
        From the accelerator's response stream.
    framing_errors, overflows : Out(16)
        Counters (saturating) of dropped bytes.
    """

    rx: In(1, init=1)
    tx: Out(1, init=1)
    cmd: Out(stream.Signature(32))
    resp: In(stream.Signature(32))
    framing_errors: Out(16)
    overflows: Out(16)

    def __init__(self, divisor: int, fifo_bytes: int = 2048):
        self.divisor = check_divisor(divisor)
        if (isinstance(fifo_bytes, bool) or not isinstance(fifo_bytes, int)
                or not 16 <= fifo_bytes < 1 << 16):
            raise ValueError(f"fifo_bytes must be an integer from 16 to 65535, not "
                             f"{fifo_bytes!r}")
        self.fifo_bytes = fifo_bytes
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.urx = urx = UartRx(self.divisor)
        m.submodules.utx = utx = UartTx(self.divisor)
        m.submodules.fifo = fifo = SyncFIFOBuffered(width=8, depth=self.fifo_bytes)
        m.d.comb += [urx.rx.eq(self.rx), self.tx.eq(utx.tx)]
        wiring.connect(m, urx.data, fifo.w_stream)

        report = Signal()                  # a status frame is due
        # --- receive: unescape, assemble words (least significant byte first) -------------
        escaped = Signal()
        word = Signal(24)
        count = Signal(2)
        request = Signal()
        byte = fifo.r_stream.payload
        data = Signal()                    # `byte` (or 0xDB) is a data byte of the stream
        value = Signal(8)
        m.d.comb += fifo.r_stream.ready.eq(~self.cmd.valid)
        with m.If(self.cmd.valid & self.cmd.ready):
            m.d.sync += self.cmd.valid.eq(0)
        with m.If(fifo.r_stream.valid & fifo.r_stream.ready):
            with m.If(escaped):
                m.d.sync += escaped.eq(0)
                with m.If(byte == ESC_DATA):
                    m.d.comb += [data.eq(1), value.eq(ESC)]
                with m.Elif(byte == ESC_STATUS):
                    m.d.sync += count.eq(0)
                    m.d.comb += request.eq(1)
            with m.Elif(byte == ESC):
                m.d.sync += escaped.eq(1)
            with m.Else():
                m.d.comb += [data.eq(1), value.eq(byte)]
        with m.If(data):
            m.d.sync += count.eq(count + 1)
            with m.Switch(count):
                for i in range(3):
                    with m.Case(i):
                        m.d.sync += word[8 * i:8 * (i + 1)].eq(value)
                with m.Case(3):
                    m.d.sync += [self.cmd.payload.eq(Cat(word, value)), self.cmd.valid.eq(1)]
        # --- transmit: split words, escape, insert status frames ---------------------------
        out = Signal(32)                   # the word being sent, shifted right per byte
        left = Signal(range(5))            # its bytes still to send
        dd = Signal()                      # ESC_DATA is due (after an escaped ESC)
        frame = Signal(range(2 + STATUS_BYTES))   # position in a status frame, 0 = none
        fields = Cat(self.framing_errors, self.overflows, Const(self.fifo_bytes, 16))
        obyte, ovalid = utx.data.payload, utx.data.valid
        with m.If(utx.data.ready & ovalid):
            m.d.sync += ovalid.eq(0)
        with m.If(~ovalid | utx.data.ready):
            with m.If(frame != 0):
                m.d.sync += [ovalid.eq(1), frame.eq(Mux(frame == 1 + STATUS_BYTES, 0,
                                                        frame + 1))]
                with m.If(frame == 1):
                    m.d.sync += obyte.eq(ESC_STATUS)
                with m.Else():
                    m.d.sync += obyte.eq(fields.word_select((frame - 2)[:3], 8))
            with m.Elif(dd):
                m.d.sync += [ovalid.eq(1), obyte.eq(ESC_DATA), dd.eq(0)]
            with m.Elif(report):
                m.d.sync += [ovalid.eq(1), obyte.eq(ESC), frame.eq(1), report.eq(0)]
            with m.Elif(left != 0):
                m.d.sync += [ovalid.eq(1), obyte.eq(out[:8]), out.eq(out >> 8),
                             left.eq(left - 1), dd.eq(out[:8] == ESC)]
            with m.Elif(self.resp.valid):
                m.d.comb += self.resp.ready.eq(1)
                m.d.sync += [out.eq(self.resp.payload), left.eq(4)]

        # After the transmitter, so that an event in the cycle a frame starts is not lost.
        for pulse, counter in ((urx.framing_error, self.framing_errors),
                               (urx.overrun, self.overflows)):
            with m.If(pulse):
                m.d.sync += report.eq(1)
                with m.If(~counter.all()):
                    m.d.sync += counter.eq(counter + 1)
        with m.If(request):
            m.d.sync += report.eq(1)
        return m
