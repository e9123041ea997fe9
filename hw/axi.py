# SPDX-License-Identifier: BSD-2-Clause
"""An AXI4 read master that streams weights from external memory (issue 14).

::

    requests ─► [ check ] ─► [ burst splitter ] ─► AR ─────────► memory
                    │               │ (len, last)                  │ R (RREADY = 1)
                    │               ▼                              ▼
                    │        [ burst FIFO ] ──────────► [ R register, beat checks ]
                    │                                    │        │ verdict   │ every beat
                    ▼                                    │        ▼           ▼
             error, error_code ◄─────────────────────────┘  [ commit reg ] ─► [ data RAM ]
                                                                                │ read from
                                                                                ▼ registers
                                                                 beats ◄── [ output stage ]
                                                              (committed)   (3 beats)

A request is a byte address and a length in bytes; the reader splits it into INCR bursts of
at most ``max_burst`` beats that never cross a 4 KiB boundary, keeps up to
``max_outstanding`` of them in flight, and delivers the data as a stream of ``data_width``-bit
beats. An AR is issued only once the data buffer has room reserved for the whole burst, so
RREADY is held high: R is never stalled by the reader and the slave can never be blocked on it.

A burst's beats reach the output only once the whole burst has arrived with RRESP = OKAY on
every beat and RLAST exactly on its last beat (the burst is *committed*; its length passes
through a register, which the count of committed beats includes, on its way into that
count). Every beat is written into the buffer (a ring in block RAM) as it comes; the checks
gate only the commit and the error, and a bad beat is discarded with the rest when the error
empties the buffer. Any error halts the reader until ``clear``: see :class:`AxiWeightReader`
for what the consumer then sees. The buffer's RAM is read into a three-beat output stage (its
read port, its output register, a fabric register) whenever the stage has room, decided from
registers alone: the consumer's ready moves only the stage's fabric registers, and the RAM's
output pins drive its own output register and nothing else.

Every output is a register or a function of registers and the consumer's ready; AXI inputs
(ARREADY, RVALID, RDATA...) land in registers or in register enables only.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from golden.contract.config import AXI4_MAX_BURST, AXI_PAGE_BYTES
from hw.component import replicas

__all__ = ["AxiBurst", "AxiReadSignature", "AxiResp", "AxiWeightReader", "ReadError",
           "beat_layout", "request_layout"]


class AxiBurst(enum.Enum, shape=2):
    FIXED = 0
    INCR = 1
    WRAP = 2


class AxiResp(enum.Enum, shape=2):
    OKAY = 0
    EXOKAY = 1
    SLVERR = 2
    DECERR = 3


class ReadError(enum.Enum, shape=4):
    """Why the reader stopped (:attr:`AxiWeightReader.error_code`). Codes 1 to 3 are the RRESP
    of the first beat that was not OKAY; the rest are the reader's own checks."""
    NONE = 0
    #: RRESP = EXOKAY on a normal (non-exclusive) read: a protocol violation by the slave.
    EXOKAY = 1
    SLVERR = 2
    DECERR = 3
    #: RLAST on a beat before the burst's last: the burst was truncated.
    EARLY_LAST = 4
    #: No RLAST on the burst's last beat: the burst is too long.
    MISSING_LAST = 5
    #: An R beat while no burst was outstanding (no AR accepted and not yet ended by RLAST).
    UNSOLICITED = 6
    #: A request whose address is not a multiple of the beat size (refused).
    UNALIGNED = 8
    #: A request whose length is zero or not a multiple of the beat size (refused).
    LENGTH = 9
    #: A request that runs past the end of the address space (refused).
    RANGE = 10


def _check_int(name, value, low, high, *, power_of_two=False):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, not {value!r}")
    if not low <= value <= high or (power_of_two and value & (value - 1)):
        kind = "a power of two" if power_of_two else "an integer"
        raise ValueError(f"{name} must be {kind} from {low} to {high}, not {value}")


class AxiReadSignature(wiring.Signature):
    """The AR and R channels of an AXI4 manager (``Out``: driven by the manager).

    Member names are the AXI4 signal names less the prefix, so that a port named ``m_axi``
    comes out as ``m_axi_araddr``... when converted with ``separator="_"``
    (:func:`hw.verilog.convert`), the names cocotbext-axi and vendor tools look for. ARID and
    RID are there because cocotbext-axi requires them; the reader drives ARID = 0 and, with a
    single ID, needs no RID. ARLOCK, ARCACHE, ARPROT, ARQOS are left out: interconnects tie a
    missing one to its AXI default.

    Parameters
    ----------
    addr_width : int
        32 or 64.
    data_width : int
        RDATA bits, a power of two from 8 to 1024.
    id_width : int
        ARID / RID bits (default 1).
    """

    #: The ports of a member of this signature are named ``<member>_<signal>`` by
    #: :func:`hw.verilog.convert`, whatever separator the rest of the design's ports use.
    port_separator = "_"

    def __init__(self, *, addr_width: int, data_width: int, id_width: int = 1):
        if addr_width not in (32, 64):
            raise ValueError(f"addr_width must be 32 or 64, not {addr_width!r}")
        _check_int("data_width", data_width, 8, 1024, power_of_two=True)
        _check_int("id_width", id_width, 1, 32)
        self._addr_width, self._data_width, self._id_width = addr_width, data_width, id_width
        super().__init__({
            "arid": Out(id_width),
            "araddr": Out(addr_width),
            "arlen": Out(8),
            "arsize": Out(3),
            "arburst": Out(AxiBurst),
            "arvalid": Out(1),
            "arready": In(1),
            "rid": In(id_width),
            "rdata": In(data_width),
            "rresp": In(AxiResp),
            "rlast": In(1),
            "rvalid": In(1),
            "rready": Out(1),
        })

    @property
    def addr_width(self) -> int:
        return self._addr_width

    @property
    def data_width(self) -> int:
        return self._data_width

    @property
    def id_width(self) -> int:
        return self._id_width

    def __eq__(self, other):
        return (type(other) is type(self) and other.addr_width == self.addr_width
                and other.data_width == self.data_width and other.id_width == self.id_width)

    def __repr__(self):
        return (f"AxiReadSignature(addr_width={self.addr_width}, data_width={self.data_width}, "
                f"id_width={self.id_width})")


def request_layout(addr_width: int) -> data.StructLayout:
    """A read request: ``addr`` (bytes, beat-aligned) and ``length`` (bytes, a positive
    multiple of the beat size)."""
    return data.StructLayout({"addr": addr_width, "length": addr_width})


def beat_layout(data_width: int) -> data.StructLayout:
    """A delivered beat: ``data`` (little-endian: byte ``i`` of the beat is ``data[8i:8i+8]``)
    and ``last`` (the last beat of its request)."""
    return data.StructLayout({"data": data_width, "last": 1})


class AxiWeightReader(wiring.Component):
    """Reads byte ranges of memory over AXI4 and streams them out one beat at a time.

    Parameters
    ----------
    data_width : int
        Bits of a beat (RDATA), a power of two from 64 to 1024.
    addr_width : int
        32 or 64.
    max_burst : int
        Beats of the longest burst, from 1 to 256 and at most ``4096 // (data_width // 8)``
        (an INCR burst never crosses a 4 KiB boundary).
    max_outstanding : int
        Bursts in flight at once (1 to 64). The data buffer holds
        ``max_outstanding * max_burst`` beats; with several bursts outstanding, memory latency
        is hidden.
    counter_bits : int
        Width of the two counters (default 48).

    Members
    -------
    requests : In(stream.Signature(request_layout(addr_width)))
        Byte ranges to read. A request that is not beat-aligned, has a length of zero or not
        a multiple of the beat size, or runs past ``2**addr_width`` is accepted and refused:
        nothing is issued and ``error`` is raised (UNALIGNED, LENGTH, RANGE).
    beats : Out(stream.Signature(beat_layout(data_width)))
        The data of the requests in order, each beat flagged ``last`` at its request's end.
    m_axi : Out(AxiReadSignature(addr_width=addr_width, data_width=data_width))
        The AXI4 read channels (ARBURST = INCR, ARSIZE = the beat size, ARID = 0, RREADY = 1).
    error : Out(1)
        Sticky: something went wrong (``error_code`` says what). Raised by a refused request,
        an RRESP other than OKAY, an RLAST too early or missing, a beat nobody asked for.
    error_code : Out(ReadError)
        The first error since the last ``clear``.
    clear : In(1)
        Clear ``error`` and ``error_code``.
    busy : Out(1)
        A request is waiting or being split, a burst is outstanding, or beats are buffered.
    available : Out(range(held_beats + 1))
        Beats that ``beats`` will deliver without waiting, from the next cycle on, one a
        cycle (committed; the sum of two registers, the count and the length of the burst
        whose commit was registered a cycle earlier): a consumer with a fixed schedule takes
        a run of beats once this many are there. 0 once halted.
    bytes_read : Out(counter_bits)
        Bytes of every R beat received (discarded ones included): the bus traffic.
    bursts : Out(counter_bits)
        AR handshakes.
    counter_clear : In(1)
        Reset ``bytes_read`` and ``bursts`` to 0 (the accelerator's CLEAR of the counters).

    What the consumer sees on an error: every beat delivered before it is good data (its
    whole burst arrived clean). From the cycle the error is registered, ``beats.valid`` stays
    low; the reader stops splitting, drops the current and the waiting request, accepts and
    discards every R beat of the bursts already issued and empties its buffer. The bad burst's
    beats, and the committed beats not yet taken, are never delivered. ``requests.ready``
    stays low until the bursts have all ended (by RLAST) *and* ``clear`` has been given; the
    reader then starts afresh with the next request. So after an error the consumer drops
    whatever it has of the requests in flight and issues them again after ``clear``.
    """

    def __init__(self, *, data_width: int, addr_width: int = 32, max_burst: int = 16,
                 max_outstanding: int = 4, counter_bits: int = 48):
        _check_int("data_width", data_width, 64, 1024, power_of_two=True)
        if addr_width not in (32, 64):
            raise ValueError(f"addr_width must be 32 or 64, not {addr_width!r}")
        _check_int("max_burst", max_burst, 1, AXI4_MAX_BURST)
        page_beats = AXI_PAGE_BYTES // (data_width // 8)
        if max_burst > page_beats:
            raise ValueError(f"max_burst must be at most {page_beats} for data_width "
                             f"{data_width} (a burst may not cross 4 KiB), not {max_burst}")
        _check_int("max_outstanding", max_outstanding, 1, 64)
        _check_int("counter_bits", counter_bits, 1, 64)
        self._data_width, self._addr_width = data_width, addr_width
        self._max_burst, self._max_outstanding = max_burst, max_outstanding
        self._counter_bits = counter_bits
        super().__init__({
            "requests": In(stream.Signature(request_layout(addr_width))),
            "beats": Out(stream.Signature(beat_layout(data_width))),
            "m_axi": Out(AxiReadSignature(addr_width=addr_width, data_width=data_width)),
            "error": Out(1),
            "error_code": Out(ReadError),
            "clear": In(1),
            "busy": Out(1),
            "available": Out(range(max_outstanding * max_burst + self.STAGE_BEATS + 1)),
            "bytes_read": Out(counter_bits),
            "bursts": Out(counter_bits),
            "counter_clear": In(1),
        })

    data_width = property(lambda self: self._data_width)
    addr_width = property(lambda self: self._addr_width)
    max_burst = property(lambda self: self._max_burst)
    max_outstanding = property(lambda self: self._max_outstanding)
    counter_bits = property(lambda self: self._counter_bits)

    @property
    def beat_bytes(self) -> int:
        return self._data_width // 8

    #: Beats of the output stage behind the data buffer (the RAM's read port, its output
    #: register, one fabric register).
    STAGE_BEATS = 3

    @property
    def buffer_depth(self) -> int:
        """Beats of the data buffer (a ring in block RAM): room for every outstanding
        burst."""
        return self._max_outstanding * self._max_burst

    @property
    def held_beats(self) -> int:
        """Beats the reader holds at most: its buffer's and its output stage's (a slot of the
        buffer is free again once its beat has moved into the stage)."""
        return self.buffer_depth + self.STAGE_BEATS

    def elaborate(self, platform):
        m = Module()
        aw, dw = self._addr_width, self._data_width
        size = (self.beat_bytes - 1).bit_length()          # log2 of the beat bytes
        burst_max = self._max_burst
        page_beats = AXI_PAGE_BYTES // self.beat_bytes
        depth = self.buffer_depth
        axi = self.m_axi

        # Registered state that several parts read.
        quiet = Signal()                    # nothing outstanding, buffered or in the R register
        error = Signal()
        error_code = Signal(ReadError)
        draining = Signal()                 # after an error, until every burst has ended
        halted = error | draining
        # The same, a register of its own for the buffer's side (its write and read enables,
        # which reach every block RAM of the ring): `error` then drives only the reader's
        # own logic, beside the beat checks that set it.
        # (Two copies of one register, `ram_halted` for the buffer and `halted_count` for the
        # count of unread beats, both kept: Yosys would merge a plain register into its kept
        # copy, tests/hw/test_fpga.py.)
        halted_d = Signal()                 # the next `ram_halted`
        ram_halted, halted_count = replicas(m, halted_d, 2, name="halted_copy")
        raise_error = Signal()              # this cycle, a new error...
        new_code = Signal(ReadError)        # ...with this code
        stopping = Signal()                 # an error raised a cycle ago: stop and drain now

        # Bursts issued and not yet ended: length - 1 and "last burst of its request".
        m.submodules.bursts = bursts = SyncFIFOBuffered(width=9, depth=self._max_outstanding)
        # The data, with the request-end flag; room is reserved for a burst before its AR.
        # A ring in block RAM (`unread` beats written, not yet read out), then an output
        # stage of three beats: the RAM's read port, which holds its beat until it is read
        # again (`port_full`); the RAM's output register `oreg` (`oreg_full`), loaded from
        # the port alone, which the FPGA flow puts into the block RAM itself
        # (hw.fpga.absorb_ebr_output_registers: the pins' clock-to-output without it is most
        # of a cycle at 150 MHz on the ECP5); one fabric register behind it (`spare`). Each
        # of the RAM's steps (a read, a move into `oreg`) happens only when the next place
        # is certain to be free by the end of the cycle, which registers alone tell, so the
        # consumer's ready moves only the fabric registers and never reaches the RAM's
        # enables and address (the path of SyncFIFOBuffered, whose read enable is its
        # consumer's ready).
        m.submodules.buffer = buffer = Memory(shape=dw + 1, depth=depth, init=[])
        w_port = buffer.write_port()
        r_port = buffer.read_port(domain="sync")
        w_ptr = Signal(range(depth))
        r_ptr = Signal(range(depth))
        unread = Signal(range(depth + 1))                  # beats in the RAM
        oreg = Signal(dw + 1, reset_less=True)             # the RAM's output register
        spare = Signal(dw + 1, reset_less=True)
        # The stage's flags (a beat on the read port, in `oreg`, in `spare`) and `unread !=
        # 0`, each two kept copies of one register (below): `_0` for the count's side and
        # the output, `_1` for the RAM's.
        port_d, oreg_d, spare_d, nz_d = Signal(), Signal(), Signal(), Signal()   # next values
        port_full, port_ram = replicas(m, port_d, 2, name="port_full")
        oreg_full, oreg_ram = replicas(m, oreg_d, 2, name="oreg_full")
        spare_full, spare_ram = replicas(m, spare_d, 2, name="spare_full")
        unread_nz, nz_ram = replicas(m, nz_d, 2, name="unread_nz")
        # Room in the ring not yet reserved: a burst's room is reserved at its AR and each
        # slot returned when its beat is read out of the ring (into the output stage).
        credits = Signal(range(depth + 1), init=depth)
        committed = Signal(range(self.held_beats + 1))     # held beats that may be delivered

        # ---- Requests: registered first, checked from the registers. ----
        req_full = Signal()
        req = Signal(request_layout(aw))
        with m.If(self.requests.valid & self.requests.ready):
            m.d.sync += [req_full.eq(1), req.eq(self.requests.payload)]
        m.d.comb += self.requests.ready.eq(~req_full & ~halted)

        splitting = Signal()
        cur_addr = Signal(aw)
        beats_left = Signal(aw - size + 1)
        req_end = Signal(aw + 1)
        m.d.comb += req_end.eq(req.addr + req.length)
        req_bad = Signal()
        req_code = Signal(ReadError)
        with m.If(req.addr[:size] != 0):
            m.d.comb += [req_bad.eq(1), req_code.eq(ReadError.UNALIGNED)]
        with m.Elif((req.length == 0) | (req.length[:size] != 0)):
            m.d.comb += [req_bad.eq(1), req_code.eq(ReadError.LENGTH)]
        with m.Elif(req_end[aw] & (req_end[:aw] != 0)):
            m.d.comb += [req_bad.eq(1), req_code.eq(ReadError.RANGE)]
        take = req_full & ~splitting & ~halted
        with m.If(take):
            m.d.sync += req_full.eq(0)
            with m.If(~req_bad):
                m.d.sync += [splitting.eq(1), cur_addr.eq(req.addr),
                             beats_left.eq(req.length[size:])]

        # ---- Burst splitting: the next burst's length is computed one cycle ahead. ----
        len_ok = Signal()                   # burst_len / burst_last describe cur_addr now
        burst_len = Signal(range(burst_max + 1))
        burst_last = Signal()
        to_page = Signal(range(page_beats + 1))
        limit = Signal(range(burst_max + 1))
        m.d.comb += [
            to_page.eq(page_beats - cur_addr[size:12]),
            limit.eq(Mux(to_page < burst_max, to_page, burst_max)),
        ]
        with m.If(splitting & ~len_ok):
            m.d.sync += [
                len_ok.eq(1),
                burst_len.eq(Mux(beats_left < limit, beats_left, limit)),
                burst_last.eq(beats_left <= limit),
            ]

        # An AR is loaded only into an empty AR register (no path from ARREADY to the
        # splitter): at most one AR every two cycles, enough for bursts of two beats or more.
        issue = Signal()
        len_m1 = Signal(8)                  # ARLEN of the next burst
        m.d.comb += len_m1.eq(burst_len - 1)
        m.d.comb += issue.eq(splitting & len_ok & ~axi.arvalid & (credits >= burst_len)
                             & bursts.w_rdy & ~halted)
        m.d.comb += [
            axi.arid.eq(0),
            axi.arsize.eq(size),
            axi.arburst.eq(AxiBurst.INCR),
            bursts.w_data.eq(Cat(len_m1, burst_last)),
            bursts.w_en.eq(issue),
        ]
        with m.If(axi.arvalid & axi.arready):
            m.d.sync += axi.arvalid.eq(0)
        with m.If(issue):
            m.d.sync += [
                axi.arvalid.eq(1),
                axi.araddr.eq(cur_addr),
                axi.arlen.eq(len_m1),
                cur_addr.eq(cur_addr + (burst_len << size)),
                beats_left.eq(beats_left - burst_len),
                len_ok.eq(0),
                splitting.eq(~burst_last),
            ]

        # ---- R: always ready; every beat lands in a register before anything looks at it. ----
        m.d.comb += axi.rready.eq(1)
        r_valid = Signal()
        r_last = Signal()
        r_resp = Signal(AxiResp)
        r_data = Signal(dw, reset_less=True)
        m.d.sync += [r_valid.eq(axi.rvalid), r_last.eq(axi.rlast), r_resp.eq(axi.rresp)]
        with m.If(axi.rvalid):
            m.d.sync += r_data.eq(axi.rdata)

        # Bursts whose AR was accepted and that have not ended, counted from the registered
        # handshake: a beat in the R register (RVALID a cycle earlier) belongs to a burst only
        # if that burst's AR was accepted before the beat came, as AXI orders them. A beat
        # while the AR still waits for ARREADY is UNSOLICITED, not the burst's data.
        ar_done = Signal()
        m.d.sync += ar_done.eq(axi.arvalid & axi.arready)
        accepted = Signal(range(self._max_outstanding + 1))
        burst_end = Signal()
        m.d.comb += burst_end.eq(r_valid & r_last & (accepted != 0))
        m.d.sync += accepted.eq(accepted + ar_done - burst_end)

        head_len_m1 = bursts.r_data[:8]
        head_req_last = bursts.r_data[8]
        beat = Signal(8)                    # beat of the head burst
        at_end = Signal()
        m.d.comb += at_end.eq(beat == head_len_m1)
        r_bad = Signal()
        r_code = Signal(ReadError)
        with m.If((accepted == 0) | ~bursts.r_rdy):
            m.d.comb += [r_bad.eq(1), r_code.eq(ReadError.UNSOLICITED)]
        with m.Elif(r_resp != AxiResp.OKAY):
            m.d.comb += [r_bad.eq(1), r_code.eq(r_resp.as_value())]
        with m.Elif(r_last & ~at_end):
            m.d.comb += [r_bad.eq(1), r_code.eq(ReadError.EARLY_LAST)]
        with m.Elif(~r_last & at_end):
            m.d.comb += [r_bad.eq(1), r_code.eq(ReadError.MISSING_LAST)]
        good = r_valid & ~r_bad & ~halted
        # Every beat that arrives while the reader is not halted is written, whatever the
        # checks say: a bad beat raises the error in the same cycle and the drain discards it
        # with the rest. The checks reach only the commit (registered, below) and the error.
        write = r_valid & ~halted_count     # the count's copy; the RAM's is `write_ram` below
        m.d.comb += [
            w_port.addr.eq(w_ptr),
            # The request's end is the RLAST of its last burst: for a beat that is ever
            # delivered (its burst committed) RLAST is exactly `at_end`, and RLAST is a
            # register, so the RAM's data input is one gate from registers, not the checks.
            w_port.data.eq(Cat(r_data, head_req_last & r_last)),
            # A burst ends at its RLAST, whatever its length: that is when the slave is done.
            bursts.r_en.eq(burst_end),
        ]
        with m.If(r_valid):
            m.d.sync += beat.eq(Mux(r_last, 0, beat + 1))

        # ---- Output: committed beats only, none once halted (then the buffer is emptied). ----
        # A burst whose last beat arrived clean is committed from registers: the checks'
        # verdict and the burst's length are registered (`commit_beats`), registered once
        # more (`commit_held`) and then added to `committed`, so they never reach its adder,
        # nor `available` (which the consumer's logic reads), in the cycle they are computed.
        # The beats count as committed from `commit_held` on: `available` and `beats.valid`
        # look at `committed + commit_held`. That is two cycles after the burst's last beat
        # was in the R register, one before that beat can be offered (below), so a consumer
        # that takes `available` beats from the next cycle on, one a cycle, finds each there.
        commit_beats = Signal(range(burst_max + 1))     # registered verdict and length...
        commit_now = Signal()                           # ...and whether it is not 0
        commit_held = Signal(range(burst_max + 1))      # committed, not yet in `committed`
        m.d.sync += [commit_beats.eq(Mux(good & at_end, head_len_m1 + 1, 0)),
                     commit_now.eq(good & at_end),
                     commit_held.eq(commit_beats)]
        count = Signal(range(self.held_beats + 1))      # committed beats (`available`)
        m.d.comb += count.eq(committed + commit_held)

        # The output stage: the head is `spare` when it is full, otherwise `oreg`'s beat.
        # `oreg` is loaded from the port (`advance`) unless `oreg` and `spare` both hold a
        # beat: otherwise `oreg`'s beat leaves in that cycle, taken or moved into `spare`.
        # The RAM is read (`fetch`) unless all three hold a beat: otherwise the port's beat
        # moves into `oreg` in that cycle. A beat written in cycle t is fetched in t + 1 at
        # the earliest, moved into `oreg` in t + 2 and offered in t + 3; the stage refills a
        # beat per cycle, so a consumer taking a beat every cycle never waits. Every beat is
        # fetched, committed or not: the stage holds the oldest beats, and `committed` says
        # how many of them may leave.
        #
        # `fetch` is one gate of five registers: `unread_nz` is `unread != 0`, registered
        # (from the count's low values and this cycle's write and fetch, no adder). The RAM's
        # side (its read enable and pointer, its output register's enable, its write enable
        # and pointer) reads one copy of each register (`hw.component.replicas`) and the
        # count's side the other, so that neither side's gate is placed among the other's
        # loads.
        fetch = Signal()
        fetch_ram = Signal()
        advance = Signal()
        advance_ram = Signal()
        write_ram = Signal()
        m.d.comb += [
            advance.eq(port_full & ~(oreg_full & spare_full)),
            advance_ram.eq(port_ram & ~(oreg_ram & spare_ram)),
            fetch.eq(unread_nz & ~(port_full & oreg_full & spare_full) & ~halted_count),
            fetch_ram.eq(nz_ram & ~(port_ram & oreg_ram & spare_ram) & ~ram_halted),
            write_ram.eq(r_valid & ~ram_halted),
            w_port.en.eq(write_ram),
            r_port.addr.eq(r_ptr),
            r_port.en.eq(fetch_ram),
        ]
        # The RAM's pins drive `oreg` alone, with `advance_ram` as its enable: what the
        # block RAM's own output register is (REGMODE OUTREG, OCE the enable).
        with m.If(advance_ram):
            m.d.sync += oreg.eq(r_port.data)
        with m.If(write_ram):
            m.d.sync += w_ptr.eq(Mux(w_ptr == depth - 1, 0, w_ptr + 1))
        with m.If(fetch_ram):
            m.d.sync += r_ptr.eq(Mux(r_ptr == depth - 1, 0, r_ptr + 1))
        m.d.sync += unread.eq(unread + write - fetch)
        m.d.comb += nz_d.eq(~draining & (write | (unread >= 2) | (unread == 1) & ~fetch))
        head = Signal(dw + 1)
        m.d.comb += head.eq(Mux(spare_full, spare, oreg))

        # `beats.valid` is a register, `valid_next` below: the consumer's ready then meets
        # registers only (the stage's two flags and `spare`). It is always `valid_ref`: a beat in
        # the stage, committed, the reader not halted (a property of the formal checks,
        # sim/formal.py).
        out_valid = Signal()
        valid_ref = Signal()
        m.d.comb += valid_ref.eq((oreg_full | spare_full) & (count != 0) & ~halted)
        deliver = Signal()
        m.d.comb += [
            self.beats.valid.eq(out_valid),
            self.beats.payload.data.eq(head[:dw]),
            self.beats.payload.last.eq(head[dw]),
            deliver.eq(self.beats.valid & self.beats.ready),
        ]
        # `oreg`'s beat is taken (`spare` empty) or moved into `spare` (empty, or its beat
        # taken now); `oreg` then holds the port's beat if it advanced now, and the port the
        # beat fetched now, if any.
        take_oreg = deliver & ~spare_full
        move = oreg_full & ~take_oreg & (~spare_full | deliver)
        port_next = fetch | port_full & ~advance
        oreg_next = advance | oreg_full & ~take_oreg & ~move
        spare_next = spare_full & ~deliver | move
        with m.If(move):
            m.d.sync += spare.eq(oreg)
        m.d.comb += [port_d.eq(port_next & ~draining), oreg_d.eq(oreg_next & ~draining),
                     spare_d.eq(spare_next & ~draining)]
        m.d.comb += quiet.eq((bursts.level == 0) & (unread == 0) & ~port_full & ~oreg_full
                             & ~spare_full & ~r_valid)
        m.d.sync += [
            credits.eq(credits + fetch - Mux(issue, burst_len, 0)),
            committed.eq(committed + commit_held - deliver),
        ]

        # ---- Errors. ----
        with m.If(r_valid & r_bad & ~halted):
            m.d.comb += [raise_error.eq(1), new_code.eq(r_code)]
        with m.Elif(take & req_bad):
            m.d.comb += [raise_error.eq(1), new_code.eq(req_code)]
        with m.If(self.clear):
            m.d.sync += [error.eq(0), error_code.eq(ReadError.NONE)]
        # A new error is registered (`error`, `error_code`) and halts the reader from the next
        # cycle on; the rest of the stop (the splitter's and the request's state, the drain)
        # follows a cycle later from `stopping`, a register, so that the beat checks reach
        # only a few registers beside them. While `error` is set nothing is taken, issued,
        # written or committed, so the extra cycle changes nothing the consumer sees.
        m.d.sync += stopping.eq(raise_error)
        with m.If(raise_error):
            m.d.sync += [error.eq(1), error_code.eq(new_code)]
        with m.If(stopping):
            # `committed` is emptied from the next cycle on (draining); until then `halted`
            # already hides it (and the commit registers) from `available` and `beats.valid`.
            m.d.sync += [draining.eq(1), splitting.eq(0), req_full.eq(0), len_ok.eq(0)]
        with m.If(draining):
            # Everything held is dropped at once (nothing is written while halted).
            m.d.sync += [committed.eq(0), unread.eq(0), r_ptr.eq(w_ptr)]
            # Quiet: no burst outstanding (an AR still waiting counts), nothing buffered, no
            # beat in the R register. Truncated bursts never returned their reserved room:
            # start the accounting afresh.
            with m.If(quiet):
                m.d.sync += [draining.eq(0), credits.eq(depth), beat.eq(0)]
        # Next cycle's valid_ref, from this cycle's registers and `deliver`: a beat offered
        # (one left after this cycle's delivery, or one moved into `oreg` now; none while
        # draining), the count (a commit moving into `commit_held` now, or what `committed`
        # keeps after this cycle's beat; emptied while draining), not halted (no error raised
        # now, the error cleared or absent, the drain over or absent).
        stage_next = ~draining & (oreg_next | spare_next)
        count_next = (commit_now
                      | ~draining & ((count >= 2) | (count == 1) & ~deliver))
        halted_next = (raise_error | stopping | error & ~self.clear | draining & ~quiet)
        m.d.sync += out_valid.eq(stage_next & count_next & ~halted_next)
        m.d.comb += halted_d.eq(halted_next)
        m.d.comb += [self.error.eq(error), self.error_code.eq(error_code),
                     self.available.eq(Mux(halted, 0, count))]

        # ---- Status and counters (each event is already a register). ----
        n_beats = Signal(self._counter_bits)
        n_bursts = Signal(self._counter_bits)
        m.d.sync += [n_beats.eq(Mux(self.counter_clear, 0, n_beats + r_valid)),
                     n_bursts.eq(Mux(self.counter_clear, 0, n_bursts + ar_done))]
        m.d.comb += [
            self.bytes_read.eq(n_beats << size),
            self.bursts.eq(n_bursts),
            self.busy.eq(req_full | splitting | (bursts.level != 0) | (unread != 0)
                         | port_full | oreg_full | spare_full | stopping | draining),
        ]
        return m
