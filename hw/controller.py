# SPDX-License-Identifier: BSD-2-Clause
"""The controller: reads commands, checks them, and hands each to the block that runs it.

It is the only reader of the command stream. For each command it takes the header, the argument
words (:data:`golden.contract.isa.ARG_WORDS`), a load's data words (passed to the
:class:`~hw.loader.Loader`, which stages them) and the CRC word, computing the CRC of the words
as they arrive (:class:`~hw.crc.Crc32`, which it lends to the :class:`~hw.responder.Responder`
while a response is sent). Nothing acts before the CRC word has matched. Then it checks the
command's extents against the buffers (the rules of :func:`golden.contract.isa.load_error`,
:func:`~golden.contract.isa.drain_error` and :func:`~golden.contract.isa.matmul_error`), and:

* LOAD_WEIGHTS / LOAD_ACTS: tells the loader to commit the staged words, or to drop them (a
  bad CRC, an overrun, an illegal weight code, a flag set);
* MATMUL: starts the :class:`~hw.engine.MatmulEngine` and waits for it;
* DRAIN, READ_COUNTERS, READ_STATUS, SYNC: gives the responder a job (and takes the counter
  snapshot); a refused one answers with its header alone;
* CLEAR: clears the error flags or the counters if the magic word is right;
* PREFETCH (``weight_memory = "axi"``): records its address, tiles and words (the next MATMUL
  command takes the record, whether it runs or not; the engine acts on it). With weights on
  chip it is refused (BAD_SHAPE).

A load's count is checked as soon as it arrives: 0 or above ``max_load`` raises BAD_SHAPE and
ends the command (no data phase, no CRC word). It keeps the sticky error flags
(:class:`golden.contract.isa.ErrorFlag`).

Pipelining. ``cmd.ready`` is a function of registered state only, and a command's words are
taken one per cycle from its header to its CRC word. Each argument is kept only as wide as the
largest value any buffer allows at its position, with a flag for "above that" (which is an
overrun, or a bad shape, whatever the other arguments are). The checks then run on those
narrow registers, each a comparator between registers, ORed a cycle later; the extents
(``a_addr + m * k_tiles <= act_depth``, ...) come from one bit-serial multiplier-adder
(:class:`~hw.serial_mul.SerialMultiplier`) used once per product, in sequence, while the CRC
word arrives and is checked. There is no multiplier even in the control path.
"""

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, Value, unsigned
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for

from golden.contract.config import WORD_BITS, AcceleratorConfig
from golden.contract.isa import (
    ARG_LIMIT_BITS,
    ARG_WORDS,
    CLEAR_MAGIC,
    COMMAND_HEADER,
    SYNC,
    ClearFlag,
    ErrorFlag,
    MatmulFlag,
    Opcode,
    prefetch_tiles_limit,
)

from .component import ConfiguredComponent
from .crc import Crc32
from .engine import matmul_args_layout, prefetch_layout
from .loader import load_job_layout
from .responder import response_job_layout
from .serial_mul import SerialMultiplier

__all__ = ["Controller", "arg_bits"]

_MAX_ARGS = max(ARG_WORDS.values())
_ARG_LIMIT = (1 << ARG_LIMIT_BITS) - 1


def _limits(config: AcceleratorConfig) -> dict[str, int]:
    """The largest value of each MATMUL size that can pass the checks (above it: BAD_SHAPE for
    ``k_limit``, an overrun for the others, whatever the other arguments are)."""
    cfg = config
    tiles_per_rows = cfg.weight_rows // cfg.tile_rows
    return {
        "m": min(cfg.act_depth, cfg.acc_depth),                       # m * k, n * m >= m
        "k_limit": min(cfg.max_k // cfg.rows, _ARG_LIMIT),            # BAD_SHAPE above
        "k": min(cfg.act_depth, tiles_per_rows),                      # m * k, n * k * rows
        "n": min(cfg.acc_depth, tiles_per_rows),                      # n * m, n * k * rows
    }


def arg_bits(config: AcceleratorConfig) -> tuple[int, ...]:
    """Bits kept of each argument word (position 0 whole: it is SYNC's token and CLEAR's
    magic word)."""
    cfg = config
    lim = _limits(cfg)
    return (
        WORD_BITS,
        bits_for(max(cfg.max_load, cfg.acc_depth, cfg.act_depth - 1,    # count, a_addr,
                     prefetch_tiles_limit(cfg) if cfg.axi else 0)),     # PREFETCH's tiles
        max(1, bits_for(cfg.acc_depth - 1)),                            # acc_addr
        bits_for(lim["m"]),                                             # m
        max(1, bits_for(lim["k_limit"])),                               # k_tiles
        bits_for(lim["n"]),                                             # n_tiles
    )


class Controller(ConfiguredComponent):
    """Command parsing, checks and dispatch (see the module docstring).

    Members
    -------
    cmd : In(stream.Signature(32))
        The command stream.
    load_data : Out(stream.Signature(32))
        The data words of the load in progress, passed through from ``cmd``.
    load : Out(stream.Signature(load_job_layout(config), always_ready=True))
    load_last, load_staged, load_illegal, load_done : In(1)
    load_commit, load_drop : Out(1)
    matmul_start : Out(1)
    matmul_args : Out(matmul_args_layout(config))
        Straight from registers; valid with ``matmul_start``.
    matmul_busy, matmul_overflow : In(1)
        The engine runs; an accumulation overflowed in this cycle.
    matmul_mem_error : In(1)
        ``weight_memory = "axi"`` only: the engine stopped on a reader error in this cycle
        (MEMORY_ERROR).
    respond : Out(stream.Signature(response_job_layout(config), always_ready=True))
    respond_done : In(1)
    resp_crc_clear, resp_crc_en : In(1)
    resp_crc_word : In(32)
    crc_check : Out(32)
        The shared CRC unit, driven by the responder while a response is sent (the
        controller waits for ``respond_done`` meanwhile): ``resp_crc_en`` adds
        ``resp_crc_word`` (``crc_check`` covers it two cycles later), ``resp_crc_clear``
        restarts.
    snapshot, clear_counters : Out(1)
        To the counters.
    errors : Out(len(ErrorFlag))
        The sticky error flags.
    busy : Out(1)
        A command is in progress.
    """

    def __init__(self, config: AcceleratorConfig):
        axi = {"matmul_mem_error": In(1)} if config.axi else {}
        super().__init__(config, {
            **axi,
            "cmd": In(stream.Signature(unsigned(WORD_BITS))),
            "load_data": Out(stream.Signature(unsigned(WORD_BITS))),
            "load": Out(stream.Signature(load_job_layout(config), always_ready=True)),
            "load_last": In(1),
            "load_staged": In(1),
            "load_illegal": In(1),
            "load_done": In(1),
            "load_commit": Out(1),
            "load_drop": Out(1),
            "matmul_start": Out(1),
            "matmul_args": Out(matmul_args_layout(config)),
            "matmul_busy": In(1),
            "matmul_overflow": In(1),
            "respond": Out(stream.Signature(response_job_layout(config), always_ready=True)),
            "respond_done": In(1),
            "resp_crc_clear": In(1),
            "resp_crc_en": In(1),
            "resp_crc_word": In(WORD_BITS),
            "crc_check": Out(WORD_BITS),
            "snapshot": Out(1),
            "clear_counters": Out(1),
            "errors": Out(len(ErrorFlag)),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        lim = _limits(cfg)
        bits = arg_bits(cfg)

        # --- sticky errors -----------------------------------------------------------------
        errors = self.errors
        raise_error = Signal(len(ErrorFlag))        # flags the controller raises this cycle
        clear_errors = Signal()
        overflow = Signal()             # the engine's overflow, registered: it sets the flag a
        m.d.sync += overflow.eq(self.matmul_overflow)   # cycle later, still before any verdict
        engine_errors = Mux(overflow, ErrorFlag.ACC_OVERFLOW, 0)
        if cfg.axi:
            mem_error = Signal()        # registered like the overflow
            m.d.sync += mem_error.eq(self.matmul_mem_error)
            engine_errors = engine_errors | Mux(mem_error, ErrorFlag.MEMORY_ERROR, 0)
        m.d.sync += errors.eq(Mux(clear_errors, 0, errors) | raise_error | engine_errors)
        no_errors = Signal()
        m.d.comb += no_errors.eq(errors == 0)

        # --- the command word, the opcode -------------------------------------------------
        word = self.cmd.payload
        take = self.cmd.valid & self.cmd.ready
        header = data.View(COMMAND_HEADER, word)
        header_ok = (header.sync == SYNC) & (header.reserved == 0) & (header.opcode < len(Opcode))
        opcode = Signal(Opcode)
        flags = Signal(4)
        is_op = {op: Signal(name=f"is_{op.name.lower()}") for op in Opcode
                 if op != Opcode.NOP}
        is_load = Signal()
        arg_count = Array(Const(max(ARG_WORDS[op] - 1, 0), range(_MAX_ARGS)) for op in Opcode)
        args_left = Signal(range(_MAX_ARGS))        # after the argument being taken
        arg_pos = Signal(_MAX_ARGS)                 # one-hot: the argument being taken

        # --- the shared CRC ----------------------------------------------------------------
        m.submodules.crc = crc = Crc32()
        responding = Signal()                       # the responder drives the CRC
        crc_ok = Signal()                           # the CRC word matched (from CHECK on)
        # Every word reaches the CRC from one register, a cycle after it is taken or sent: a
        # command word once it is known to belong to a command (a header is added only if it
        # is good, so the remainder stays at CRC32_INIT between commands), a response word
        # while the responder has the CRC. No multiplexer or decoding sits before the trees.
        cmd_crc_en = Signal()           # from registers only
        cmd_crc_clear = Signal()        # from registers only
        crc_done = Signal()             # the CRC word has been compared: restart the CRC
        taken = Signal(WORD_BITS)       # the word taken or sent in the previous cycle
        resp_crc_en = Signal()
        m.d.sync += [taken.eq(Mux(responding, self.resp_crc_word, word)),
                     resp_crc_en.eq(responding & self.resp_crc_en)]
        m.d.comb += [
            crc.word.eq(taken),
            crc.en.eq(cmd_crc_en | resp_crc_en),      # never both
            crc.clear.eq(cmd_crc_clear | crc_done | self.resp_crc_clear),
            self.crc_check.eq(crc.check),
        ]

        # --- arguments: narrow registers, and flags computed a cycle after each word ---------
        addr_bits = max(1, bits_for(max(cfg.weight_depth, cfg.act_depth, cfg.acc_depth) - 1))
        hi_bits = (addr_bits, *bits[1:])
        args = [Signal(b, name=f"arg{i}") for i, b in enumerate(bits)]
        hi = Signal(_MAX_ARGS)                      # above what an address or size can be
        zero = Signal(_MAX_ARGS)                    # the argument is 0
        huge = Signal(_MAX_ARGS)                    # not below 2**ARG_LIMIT_BITS
        magic_ok = Signal()
        w_addr, a_addr, acc_addr, mm_m, k_tiles, n_tiles = args
        range_addr, range_count = args[0][:addr_bits], args[1]
        count_ok = (word != 0) & (word <= cfg.max_load)     # a load's count, as it arrives
        # The size flags of an argument are computed in the cycle after it was taken, from
        # `taken` (the word, registered) and `took_arg` (its position): those wide
        # comparisons sit between two registers, not behind the stream's handshake. They are
        # read only from CHECK on (a load's count, which DATA needs at once, and CLEAR's magic
        # word, one equality, are checked as they arrive).
        # Each flag is "some bit at or above b is set": ORed from `nibbles`, registered
        # beside `taken` (which nibbles of the word are nonzero: one LUT from the stream,
        # no enable), and the few bits of `taken` below the first whole nibble, so that
        # each flag is a short OR of registers (a wide compare of `taken` per flag had
        # shared its OR trees into one chain: 8 LUTs on the UP5K). An argument is never
        # taken while the responder has the CRC, so `taken` is then the word of `nibbles`.
        nibbles = Signal(-(-WORD_BITS // 4))
        m.d.sync += nibbles.eq(Cat(word[j:j + 4] != 0 for j in range(0, WORD_BITS, 4)))

        def set_at_or_above(b):
            whole = -(-b // 4)
            parts = [nibbles[whole:]] if whole < len(nibbles) else []
            if b < min(4 * whole, WORD_BITS):
                parts.append(taken[b:4 * whole])
            return Cat(*parts).any() if parts else Const(0)

        took_arg = Signal(_MAX_ARGS)
        m.d.sync += took_arg.eq(0)
        for i in range(_MAX_ARGS):
            with m.If(took_arg[i]):
                m.d.sync += [hi[i].eq(set_at_or_above(hi_bits[i])),
                             zero[i].eq(~set_at_or_above(0)),
                             huge[i].eq(set_at_or_above(ARG_LIMIT_BITS))]

        # Then, one comparator per register, ORed a cycle later.
        k_bits = max(1, bits_for(min(lim["k"], lim["k_limit"])))   # k_tiles that can pass
        k_above = Signal()
        k_big = Signal()
        m.d.sync += [k_above.eq(hi[4] | (k_tiles > lim["k_limit"])),
                     k_big.eq((k_tiles >> k_bits) != 0)]
        shape_bad = Signal()        # BAD_SHAPE (MATMUL's sizes, DRAIN's count), after CRC
        over = Signal()             # an argument above every buffer: OVERRUN, after BAD_SHAPE
        matmul, drain = is_op[Opcode.MATMUL], is_op[Opcode.DRAIN]
        prefetch = is_op[Opcode.PREFETCH]
        if cfg.axi:
            # MATMUL's and PREFETCH's first argument is a byte address (any 32-bit value),
            # which must be a whole number of weight words.
            misaligned = Signal()
            low = (cfg.weight_word_bytes - 1).bit_length()
            with m.If(took_arg[0]):
                m.d.sync += misaligned.eq(taken[:low] != 0)
            w_addr_bad = (matmul | prefetch) & misaligned | ~(matmul | prefetch) & hi[0]
            # PREFETCH's tiles: 1 to the most any MATMUL can have.
            pf_shape_bad = zero[1] | hi[1] | (args[1] > prefetch_tiles_limit(cfg))
        else:
            w_addr_bad = hi[0]
            pf_shape_bad = 1                    # nothing to prefetch
        m.d.sync += [
            shape_bad.eq(matmul & (zero[3] | huge[3] | zero[4] | k_above | zero[5] | huge[5])
                         | drain & zero[1] | prefetch & pf_shape_bad),
            over.eq(w_addr_bad | (matmul | drain) & hi[1]
                    | matmul & (hi[2] | hi[3] | k_big | hi[5])),
        ]

        # --- extents: c + a * b <= bound, one product after the other ----------------------
        m_max, k_max, n_max = (1 << bits[3]) - 1, (1 << k_bits) - 1, (1 << bits[5]) - 1
        addr_max, count_max, acc_addr_max = ((1 << b) - 1 for b in (addr_bits, *bits[1:3]))
        tiles_max = k_max * n_max
        rpw = cfg.weight_rows_per_word
        space = 1 << cfg.axi_addr_width
        weight_max = (tiles_max * cfg.tile_beats * cfg.weight_word_bytes + space - 1 if cfg.axi
                      else tiles_max * cfg.tile_rows + addr_max * rpw)
        p_max = max(count_max + k_max * m_max, acc_addr_max + n_max * m_max,
                    weight_max, addr_max + count_max, space if cfg.axi else 0,
                    cfg.weight_rows, cfg.weight_depth, cfg.act_depth, cfg.acc_depth)  # bounds
        k_narrow = k_tiles[:k_bits]
        w_addr_narrow = w_addr[:addr_bits]
        tiles = Signal(range(tiles_max + 1))
        needs_w_rows = "w_rows" in matmul_args_layout(cfg).members
        w_rows = Signal(range(tiles_max * cfg.tile_rows + 1)) if needs_w_rows else None
        # With external weights there is no weight memory: every LOAD_WEIGHTS overruns it.
        depth = Mux(is_op[Opcode.LOAD_WEIGHTS], 0 if cfg.axi else cfg.weight_depth,
                    Mux(is_op[Opcode.LOAD_ACTS], cfg.act_depth, cfg.acc_depth))
        if cfg.axi:
            w_words = Signal(range(tiles_max * cfg.tile_beats + 1))
            weight_passes = [
                (tiles, cfg.tile_beats, 0, None, w_words),               # weight words
                (w_words, cfg.weight_word_bytes, w_addr, space, None),   # w_addr + their bytes
            ]
        else:
            weight_passes = [
                (tiles, cfg.tile_rows, 0, None, w_rows),             # weight-row slots
                (w_addr_narrow, rpw, None, cfg.weight_rows, None),   # + w_addr * rows per word
            ]
        # (a, b, c or None to add to the product, bound or None, register to store it in)
        passes = [
            (k_narrow, mm_m, a_addr, cfg.act_depth, None),       # a_addr + m * k_tiles
            (n_tiles, mm_m, acc_addr, cfg.acc_depth, None),      # acc_addr + n_tiles * m
            (k_narrow, n_tiles, 0, None, tiles),                 # tiles
            *weight_passes,
            (range_count, 1, range_addr, depth, None),  # a load's or DRAIN's range
        ]
        first_range, last_matmul, first_weights = 5, 4, 3
        mul = SerialMultiplier(
            a_bits=max(len(Value.cast(p[0])) for p in passes),
            b_bits=max(len(Value.cast(p[1])) for p in passes),
            c_bits=max(len(Value.cast(p[2])) for p in passes if p[2] is not None),
            p_bits=bits_for(p_max))
        m.submodules.mul = mul
        step = Signal(range(len(passes)))
        # The operands of this pass, registers (PREP gives them a cycle after `step` changes).
        op_a, op_b, op_c, op_keep = (Signal.like(mul.a), Signal.like(mul.b), Signal.like(mul.c),
                                     Signal())
        m.d.comb += [mul.a.eq(op_a), mul.b.eq(op_b), mul.c.eq(op_c), mul.keep.eq(op_keep)]
        with m.Switch(step):
            for i, (a, b, c, _, _) in enumerate(passes):
                with m.Case(i):
                    m.d.sync += [op_a.eq(a), op_b.eq(b), op_c.eq(0 if c is None else c),
                                 op_keep.eq(c is None)]
        bound = Signal.like(mul.product)    # this pass's bound, a register (all ones: none)
        with m.Switch(step):
            for i, (_, _, _, limit, _) in enumerate(passes):
                with m.Case(i):
                    m.d.sync += bound.eq(-1 if limit is None else limit)
        last_step = Signal()
        m.d.sync += last_step.eq((step == last_matmul) | (step == first_range))
        extents_ok = Signal()
        go = Signal()                   # the arguments are in: check them (when idle)
        with m.FSM(name="checker") as checker:
            with m.State("IDLE"):
                with m.If(go):
                    m.d.sync += [go.eq(0), extents_ok.eq(1),
                                 step.eq(Mux(matmul, 0, Mux(prefetch, first_weights,
                                                            first_range)))]
                    if cfg.axi:     # PREFETCH: the weight passes, for its own tiles
                        with m.If(prefetch):
                            m.d.sync += tiles.eq(args[1])
                    m.next = "PREP"
            with m.State("PREP"):
                m.next = "START"
            with m.State("START"):
                m.d.comb += mul.start.eq(1)
                m.next = "RUN"
            with m.State("RUN"):
                with m.If(mul.done):
                    m.next = "EVAL"
            with m.State("EVAL"):       # one comparator, between registers
                m.d.sync += [extents_ok.eq(extents_ok & (mul.product <= bound)),
                             step.eq(step + 1)]
                with m.Switch(step):
                    for i, (_, _, _, _, store) in enumerate(passes):
                        if store is not None:
                            with m.Case(i):
                                m.d.sync += store.eq(mul.product)
                m.next = "PREP"
                with m.If(last_step):
                    m.next = "IDLE"
        checked = Signal()
        m.d.comb += checked.eq(checker.ongoing("IDLE") & ~go)

        # --- outputs from registers ----------------------------------------------------------
        m.d.comb += [
            self.matmul_args.w_addr.eq(w_addr),
            self.matmul_args.a_addr.eq(a_addr),
            self.matmul_args.acc_addr.eq(acc_addr),
            self.matmul_args.m.eq(mm_m),
            self.matmul_args.k_tiles.eq(k_tiles),
            self.matmul_args.tiles.eq(tiles),
            self.matmul_args.accumulate.eq((flags & MatmulFlag.ACCUMULATE) != 0),
            self.load.p.addr.eq(args[0]),
            self.load.p.count.eq(word),
            self.load.p.weights.eq(is_op[Opcode.LOAD_WEIGHTS]),
            self.respond.p.opcode.eq(opcode),
            self.respond.p.arg.eq(args[0]),
            self.respond.p.count.eq(range_count),
            self.load_data.payload.eq(word),
        ]
        if needs_w_rows:
            m.d.comb += self.matmul_args.w_rows.eq(w_rows)
        if cfg.axi:
            # The PREFETCH held for the next MATMUL command (which takes it, run or not).
            held = Signal(prefetch_layout(cfg))
            m.d.comb += [self.matmul_args.w_words.eq(w_words), self.matmul_args.pf.eq(held)]

        # --- the verdict, a register: what EXECUTE raises and whether the command runs -------
        v_error = Signal(len(ErrorFlag))
        v_run = Signal()                # commit, start, respond with a payload
        v_clear_errors = Signal()
        v_clear_counters = Signal()
        responds = Signal()
        extents_bad = over | ~extents_ok
        error = Signal(len(ErrorFlag))
        m.d.comb += responds.eq(drain | is_op[Opcode.READ_COUNTERS] | is_op[Opcode.READ_STATUS]
                                | is_op[Opcode.SYNC])
        with m.If(~crc_ok):
            m.d.comb += error.eq(ErrorFlag.BAD_CRC)
        with m.Elif((matmul | drain | prefetch) & shape_bad):
            m.d.comb += error.eq(ErrorFlag.BAD_SHAPE)
        with m.Elif((matmul | drain | is_load | prefetch) & extents_bad):
            m.d.comb += error.eq(ErrorFlag.OVERRUN)
        with m.Elif(is_op[Opcode.LOAD_WEIGHTS] & self.load_illegal):
            m.d.comb += error.eq(ErrorFlag.ILLEGAL_WEIGHT)
        with m.Elif(is_op[Opcode.CLEAR] & ~magic_ok):
            m.d.comb += error.eq(ErrorFlag.BAD_MAGIC)
        clearing = is_op[Opcode.CLEAR] & crc_ok & magic_ok
        m.d.sync += [
            v_error.eq(error),
            # READ_COUNTERS, READ_STATUS and SYNC answer whatever the flags; the others only
            # with none set (the one being raised included).
            v_run.eq((error == 0) & (no_errors | (responds & ~drain))),
            v_clear_errors.eq(clearing & ((flags & ClearFlag.ERRORS) != 0)),
            v_clear_counters.eq(clearing & ((flags & ClearFlag.COUNTERS) != 0)),
        ]

        # A header is decoded into registers as it is taken, and acted on in the next cycle:
        # until a good one (not NOP) has arrived, the states that follow it (ARGS, CRC) behave
        # as IDLE does, as does DATA after a load count that was refused. So no path runs from
        # a word's decoding to the state, and the stream is taken every cycle meanwhile.
        header_good = Signal()          # the last header taken starts a command (not NOP)
        header_bad = Signal()           # ... is malformed (BAD_HEADER, raised a cycle later)
        count_good = Signal()           # a load's count is within 1..max_load
        took_header = Signal()
        took_count = Signal()           # the count word of a load (BAD_SHAPE a cycle later)
        took_body = Signal()            # a word of a command (but its CRC word): for the CRC
        m.d.sync += [took_header.eq(0), took_count.eq(0), took_body.eq(0), crc_done.eq(0)]
        m.d.comb += [cmd_crc_en.eq(took_body & header_good),
                     cmd_crc_clear.eq(took_count & ~count_good)]  # the load ends there
        with m.If(took_header & header_bad):
            m.d.comb += raise_error.eq(ErrorFlag.BAD_HEADER)
        with m.If(took_count & ~count_good):
            m.d.comb += raise_error.eq(ErrorFlag.BAD_SHAPE)

        def idle():
            """Take a word as a header (IDLE, and states waiting for a command to start)."""
            m.d.comb += self.cmd.ready.eq(1)
            with m.If(take):
                m.d.sync += [opcode.eq(header.opcode), flags.eq(header.flags),
                             header_good.eq(header_ok & (header.opcode != Opcode.NOP.value)),
                             header_bad.eq(~header_ok), took_header.eq(1), took_body.eq(1),
                             args_left.eq(arg_count[header.opcode]), arg_pos.eq(1),
                             is_load.eq((header.opcode == Opcode.LOAD_WEIGHTS.value)
                                        | (header.opcode == Opcode.LOAD_ACTS.value))]
                m.d.sync += [signal.eq(header.opcode == op.value)
                             for op, signal in is_op.items()]
                with m.If((header.opcode == Opcode.READ_COUNTERS.value)
                          | (header.opcode == Opcode.READ_STATUS.value)):
                    m.next = "CRC"
                with m.Else():
                    m.next = "ARGS"

        with m.FSM(name="controller"):
            with m.State("IDLE"):
                idle()

            with m.State("ARGS"):
                with m.If(~header_good):
                    idle()
                with m.Else():
                    m.d.comb += [self.cmd.ready.eq(1), self.busy.eq(1)]
                    with m.If(take):
                        m.d.sync += [took_body.eq(1), took_arg.eq(arg_pos)]
                        for i in range(_MAX_ARGS):
                            with m.If(arg_pos[i]):
                                m.d.sync += args[i].eq(word)
                        with m.If(arg_pos[0]):
                            m.d.sync += magic_ok.eq(word == CLEAR_MAGIC)
                        with m.If(arg_pos[1]):
                            m.d.sync += count_good.eq(count_ok)
                        m.d.sync += [args_left.eq(args_left - 1), arg_pos.eq(arg_pos << 1)]
                        with m.If(args_left == 0):
                            m.d.sync += [arg_pos.eq(0), go.eq(is_load | matmul | drain
                                                              | (prefetch if cfg.axi else 0))]
                            m.next = "CRC"
                            with m.If(is_load):
                                # The loader starts now; a refused count cancels it next cycle.
                                m.d.comb += self.load.valid.eq(1)
                                m.d.sync += took_count.eq(1)
                                m.next = "DATA"

            with m.State("DATA"):
                with m.If(~count_good):     # BAD_SHAPE: no data, no CRC word
                    m.d.comb += self.load_drop.eq(1)
                    idle()
                with m.Else():
                    m.d.comb += [self.busy.eq(1), self.load_data.valid.eq(self.cmd.valid),
                                 self.cmd.ready.eq(self.load_data.ready)]
                    m.d.sync += took_body.eq(take)
                    with m.If(self.load_last):
                        m.next = "CRC"

            with m.State("CRC"):
                with m.If(~header_good):
                    idle()
                with m.Else():
                    m.d.comb += [self.cmd.ready.eq(1), self.busy.eq(1)]
                    with m.If(take):
                        m.next = "COMPARE"

            with m.State("COMPARE"):
                # The CRC has added the words before the CRC word, which is in `taken`.
                m.d.comb += self.busy.eq(1)
                m.d.sync += [crc_ok.eq(taken == crc.check), crc_done.eq(1)]
                m.next = "CHECK"

            with m.State("CHECK"):
                m.d.comb += self.busy.eq(1)
                with m.If(checked):
                    m.next = "EXECUTE"

            with m.State("EXECUTE"):
                # The verdict was registered in the cycle before (from CHECK's flags).
                m.d.comb += [self.busy.eq(1), raise_error.eq(v_error),
                             clear_errors.eq(v_clear_errors),
                             self.clear_counters.eq(v_clear_counters)]
                m.next = "IDLE"
                with m.If(is_load):
                    m.d.comb += [self.load_commit.eq(v_run), self.load_drop.eq(~v_run)]
                    with m.If(v_run):
                        m.next = "LOAD_COMMIT"
                with m.If(matmul & v_run):
                    m.d.comb += self.matmul_start.eq(1)
                    m.next = "MATMUL"
                if cfg.axi:
                    with m.If(matmul):
                        m.d.sync += held.valid.eq(0)
                    with m.If(prefetch & v_run):
                        m.d.sync += [held.valid.eq(1), held.addr.eq(w_addr),
                                     held.tiles.eq(tiles), held.words.eq(w_words)]
                with m.If(responds):
                    m.d.comb += [self.snapshot.eq(is_op[Opcode.READ_COUNTERS]),
                                 self.respond.valid.eq(1), self.respond.p.refused.eq(~v_run)]
                    m.d.sync += responding.eq(1)
                    m.next = "RESPOND"

            with m.State("LOAD_COMMIT"):
                m.d.comb += self.busy.eq(1)
                with m.If(self.load_done):
                    m.next = "IDLE"

            with m.State("MATMUL"):
                m.d.comb += self.busy.eq(1)
                with m.If(~self.matmul_busy):
                    m.next = "IDLE"

            with m.State("RESPOND"):
                m.d.comb += self.busy.eq(1)
                with m.If(self.respond_done):
                    m.d.sync += responding.eq(0)
                    m.next = "IDLE"
        return m
