# SPDX-License-Identifier: BSD-2-Clause
"""The accelerator: memories, controller, loader, MATMUL engine, responder and counters.

::

    cmd (32-bit words) ─► controller ─┬─► loader ─────► weight memory ───┐
                          (checks,    │             └─► activation buffer ┼─► MATMUL engine
                           errors)    ├─► engine ◄────────────────────────┘    (array inside)
                                      │             accumulator buffer ◄───────────┘
    resp (32-bit words) ◄── responder ◄┴── DRAIN / READ_COUNTERS / READ_STATUS ◄── counters

The command set, the header formats, the CRC, the checks and the error flags are in
:mod:`golden.contract.isa`, shared with the firmware. Each block is a component of its own:
:class:`~hw.controller.Controller` (command parsing, CRC, checks, sticky errors, dispatch),
:class:`~hw.loader.Loader` (stages load data, then writes it whole),
:class:`~hw.engine.MatmulEngine` (the tile loop, the array inside),
:class:`~hw.responder.Responder` (the response stream) and :class:`~hw.counters.Counters`
(performance counters). This module only instantiates the memories and wires the blocks.

With ``weight_memory = "axi"`` there is no weight memory: an :class:`~hw.axi.AxiWeightReader`
feeds the engine, and its AXI4 read channels are the ports ``m_axi`` (``m_axi_araddr``... in
the generated Verilog, see :func:`hw.verilog.convert`).
"""

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from golden.contract.config import WORD_BITS, AcceleratorConfig
from golden.contract.isa import ErrorFlag

from .axi import AxiReadSignature, AxiWeightReader
from .component import ConfiguredComponent, registered_read
from .controller import Controller
from .counters import Counters
from .engine import MatmulEngine, acc_word_layout, act_word_layout
from .loader import Loader, connect_loader
from .responder import Responder

__all__ = ["Accelerator"]


class Accelerator(ConfiguredComponent):
    """The whole accelerator for one :class:`~golden.contract.config.AcceleratorConfig`.

    Members
    -------
    cmd : In(stream.Signature(32))
        Command stream (headers, arguments, data).
    resp : Out(stream.Signature(32))
        Response stream.
    errors : Out(len(ErrorFlag))
        The sticky error flags (also reported by READ_STATUS and in every response header).
    busy : Out(1)
        A command is in progress.
    m_axi : Out(AxiReadSignature(addr_width=axi_addr_width, data_width=weight_word_bits))
        ``weight_memory = "axi"`` only: the weight reader's AXI4 read channels.
    """

    def __init__(self, config: AcceleratorConfig):
        axi = {}
        if config.axi:
            axi = {"m_axi": Out(AxiReadSignature(addr_width=config.axi_addr_width,
                                                 data_width=config.weight_word_bits))}
        super().__init__(config, {
            **axi,
            "cmd": In(stream.Signature(unsigned(WORD_BITS))),
            "resp": Out(stream.Signature(unsigned(WORD_BITS))),
            "errors": Out(len(ErrorFlag)),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self._config

        if not cfg.axi:
            m.submodules.weight_mem = wmem = Memory(shape=unsigned(cfg.weight_word_bits),
                                                    depth=cfg.weight_depth, init=[])
        m.submodules.act_mem = amem = Memory(shape=act_word_layout(cfg), depth=cfg.act_depth,
                                             init=[])
        m.submodules.acc_mem = accmem = Memory(shape=acc_word_layout(cfg),
                                               depth=cfg.acc_depth, init=[])
        acc_wr = accmem.write_port()
        acc_rd = accmem.read_port()

        m.submodules.controller = controller = Controller(cfg)
        m.submodules.loader = loader = Loader(cfg)
        m.submodules.engine = engine = MatmulEngine(cfg)
        m.submodules.responder = responder = Responder(cfg)
        m.submodules.counters = counters = Counters(cfg)

        wiring.connect(m, wiring.flipped(self.cmd), controller.cmd)
        wiring.connect(m, wiring.flipped(self.resp), responder.resp)
        connect_loader(m, controller, loader)
        m.d.comb += [
            controller.resp_crc_clear.eq(responder.crc_clear),
            controller.resp_crc_en.eq(responder.crc_en),
            controller.resp_crc_word.eq(responder.crc_word),
            responder.crc_check.eq(controller.crc_check),
        ]
        wiring.connect(m, controller.respond, responder.job)
        if cfg.axi:
            # No weight memory: the loader's weight port stays unconnected (the controller
            # refuses every LOAD_WEIGHTS), and the reader feeds the engine.
            m.submodules.weight_reader = reader = AxiWeightReader(
                data_width=cfg.weight_word_bits, addr_width=cfg.axi_addr_width,
                max_burst=cfg.axi_max_burst, max_outstanding=cfg.axi_outstanding)
            wiring.connect(m, wiring.flipped(self.m_axi), reader.m_axi)
            wiring.connect(m, engine.w_request, reader.requests)
            wiring.connect(m, reader.beats, engine.w_words)
            m.d.comb += [
                engine.w_available.eq(reader.available),
                engine.w_error.eq(reader.error),
                reader.clear.eq(engine.w_clear),
                controller.matmul_mem_error.eq(engine.mem_error),
                reader.counter_clear.eq(controller.clear_counters),
                counters.mem_bytes.eq(reader.bytes_read),
                counters.mem_bursts.eq(reader.bursts),
            ]
        else:
            wiring.connect(m, loader.w_wr, wmem.write_port())
            wiring.connect(m, engine.w_rd, wmem.read_port())
        wiring.connect(m, loader.a_wr, amem.write_port())
        wiring.connect(m, engine.a_rd, amem.read_port())
        wiring.connect(m, engine.acc_wr, acc_wr)
        # The accumulator read port serves the engine during MATMUL and DRAIN otherwise. The
        # RAM is enabled for the whole of a MATMUL or a response (`busy` of each, from their
        # state registers), not for each read: at 16x16 the buffer is over a dozen block RAMs, and
        # an enable made of the responder's handshake logic was the AXI accelerator's
        # critical path. Only the reads the engine or the responder makes land in `acc_data`.
        acc_read = Signal()
        m.d.comb += acc_read.eq(Mux(engine.busy, engine.acc_rd.en, responder.acc_en))
        acc_data = registered_read(m, acc_rd, name="acc_data", read=acc_read)
        m.d.comb += [
            engine.start.eq(controller.matmul_start),
            engine.args.eq(controller.matmul_args),
            controller.matmul_busy.eq(engine.busy),
            controller.matmul_overflow.eq(engine.overflow),
            controller.respond_done.eq(responder.done),
            responder.errors.eq(controller.errors),
            responder.counter_word.eq(counters.word),
            counters.index.eq(responder.counter_index),
            acc_rd.addr.eq(Mux(engine.busy, engine.acc_rd.addr, responder.acc_addr)),
            acc_rd.en.eq(engine.busy | responder.busy),
            # Both read it through one register: two cycles after the read.
            engine.acc_rd.data.eq(acc_data),
            responder.acc_data.eq(acc_data),
            self.errors.eq(controller.errors),
            self.busy.eq(controller.busy),
        ]
        m.d.comb += [
            counters.busy.eq(self.busy),
            counters.compute.eq(engine.busy),
            counters.stall_in.eq(self.busy & self.cmd.ready & ~self.cmd.valid),
            counters.stall_out.eq(self.resp.valid & ~self.resp.ready),
            counters.vector.eq(engine.vector),
            counters.zero_macs.eq(engine.zero_macs),
            counters.clear.eq(controller.clear_counters),
            counters.snapshot.eq(controller.snapshot),
        ]
        return m
