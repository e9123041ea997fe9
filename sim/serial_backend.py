# SPDX-License-Identifier: BSD-2-Clause
"""The ``serial`` backend: the accelerator on a board, over a UART (pyserial).

The same code talks to a board (``/dev/ttyUSB0``) and to the simulated board of the tests
(``socket://127.0.0.1:PORT``, :class:`sim.uart_board.SimulatedBoard`). The link's framing and
flow control are those of :mod:`hw.uart`:

* words go out least significant byte first, escaped (:func:`hw.uart.escape`);
* every batch of commands ends with a SYNC(token); no more bytes are outstanding than the
  bridge's receive FIFO holds (its capacity comes in the bridge's status frame, asked for when
  the backend opens), a batch being outstanding until its SYNC response is back;
* the bridge's status frames are taken out of the response bytes; one that reports a new
  framing error or overflow means a byte was lost: the backend re-aligns the bridge, resyncs
  the accelerator (NOPs, CLEAR, SYNC) and runs the exchange again (``retries`` times), counting
  the event in :attr:`SerialBackend.link_errors`.

Nothing waits forever: a board that does not answer within ``timeout`` seconds raises
:class:`~sim.backends.BenchTimeout` with what to check.
"""

from __future__ import annotations

import itertools
import time

from firmware.commands import resync, sync
from firmware.runtime import Backend
from golden.contract.isa import CommandError, Opcode, crc32_words, response_header, split_commands
from hw.uart import ESC, ESC_DATA, ESC_STATUS, STATUS_BYTES, escape, status_fields

__all__ = ["LinkError", "SerialBackend"]

_SYNC_HEADER = response_header(Opcode.SYNC, 0)


class LinkError(CommandError):
    """The serial link lost bytes more often than the backend retries."""


class _Fault(Exception):
    """A byte was lost on the link (a status frame said so, or an answer did not come)."""


def _bytes(words) -> bytes:
    return b"".join(int(w).to_bytes(4, "little") for w in words)


class SerialBackend(Backend):
    """The accelerator behind a UART bridge at ``port`` (a device path or a pyserial URL).

    Parameters
    ----------
    port : str
        ``/dev/ttyUSB0``, ``socket://host:port``, ...
    baud : int
        The board's rate (``hw.boards.BOARDS[name].baud``); ignored by ``socket://``.
    timeout : float
        Seconds without a byte from the board before giving up.
    retries : int
        Times an exchange is run again after the link lost a byte.
    """

    name = "serial"
    persistent = True

    def __init__(self, config, *, port: str | None = None, baud: int = 1_000_000,
                 timeout: float = 10.0, retries: int = 2):
        super().__init__(config)
        if not port or not isinstance(port, str):
            raise ValueError(f"the serial backend needs a port (/dev/ttyUSB0, or "
                             f"socket://host:port for a simulated board), not {port!r}")
        import serial
        self.port, self.baud, self.timeout, self.retries = port, baud, timeout, retries
        try:
            self._serial = serial.serial_for_url(port, baudrate=baud, timeout=0.02)
        except (serial.SerialException, ValueError, OSError) as e:
            raise ConnectionError(f"cannot open the serial port {port!r}: {e}") from None
        self._esc = False
        self._frame: bytearray | None = None
        self._data = bytearray()          # unescaped response bytes not yet taken
        self._tokens = itertools.count(0x5E1A0001)
        self._faults = 0                  # status frames reporting a new loss, not yet handled
        self.status: dict[str, int] | None = None
        self.statuses = 0
        self.link_errors = 0
        self.bytes_out = self.bytes_in = 0
        try:
            self.link_status()
        except BaseException:
            self._serial.close()
            raise
        self.window = self.status["fifo_bytes"]

    # --- bytes in ----------------------------------------------------------------------------

    def _take(self, data: bytes) -> None:
        for b in data:
            if self._frame is not None:
                self._frame.append(b)
                if len(self._frame) == STATUS_BYTES:
                    self._on_status(status_fields(bytes(self._frame)))
                    self._frame = None
            elif self._esc:
                self._esc = False
                if b == ESC_DATA:
                    self._data.append(ESC)
                elif b == ESC_STATUS:
                    self._frame = bytearray()
            elif b == ESC:
                self._esc = True
            else:
                self._data.append(b)

    def _on_status(self, fields: dict[str, int]) -> None:
        old = self.status
        if old is not None and (fields["framing_errors"] != old["framing_errors"]
                                or fields["overflows"] != old["overflows"]):
            self._faults += 1
        self.status = fields
        self.statuses += 1

    def _poll(self, deadline: float) -> None:
        """Read what has come (waiting a little); BenchTimeout after ``deadline``."""
        from .backends import BenchTimeout
        data = self._serial.read(max(1, self._serial.in_waiting))
        if data:
            self.bytes_in += len(data)
            self._take(data)
        elif time.monotonic() > deadline:
            raise BenchTimeout(f"no answer from the board on {self.port} within "
                               f"{self.timeout:g} s (is the bitstream loaded, `make program`, "
                               f"and the rate {self.baud} baud?)")

    def _write(self, data: bytes) -> None:
        self._serial.write(data)
        self.bytes_out += len(data)

    # --- the link ----------------------------------------------------------------------------

    def link_status(self) -> dict[str, int]:
        """Ask the bridge for its status frame (framing errors, overflows, FIFO bytes); this
        also re-aligns its word assembly."""
        seen = self.statuses
        self._write(bytes([ESC, ESC_STATUS]))
        deadline = time.monotonic() + self.timeout
        while self.statuses == seen:
            self._poll(deadline)
        return dict(self.status)

    def _words(self, n: int) -> list[int]:
        return [int.from_bytes(self._data[4 * i:4 * i + 4], "little") for i in range(n)]

    def _wait_sync(self, token: int) -> list[int]:
        """Response words up to the SYNC response carrying ``token`` (taken out)."""
        crc = {}
        deadline = time.monotonic() + self.timeout
        start = 0
        while True:
            if self._faults:
                raise _Fault("a status frame reported a lost byte")
            n = len(self._data) // 4
            words = self._words(n)
            for i in range(start, n - 2):
                w = words[i]
                if (w & 0xFFFF00FF) == _SYNC_HEADER and words[i + 1] == token:
                    expect = crc.setdefault(w, crc32_words([w, token]))
                    if words[i + 2] == expect:
                        del self._data[:4 * (i + 3)]
                        return words[:i]
            start = max(0, n - 2)
            before = len(self._data)
            self._poll(deadline)
            if len(self._data) != before:
                deadline = time.monotonic() + self.timeout

    def _recover(self) -> None:
        """Re-align the bridge, bring the accelerator back to reading headers, and find the
        place in the response bytes (at any byte offset) where both streams are in step."""
        self._faults = 0
        self.link_status()
        self._faults = 0
        token = next(self._tokens)
        self._write(escape(_bytes(resync(self.config, token))))
        pattern = _bytes([_SYNC_HEADER, token, crc32_words([_SYNC_HEADER, token])])
        deadline = time.monotonic() + self.timeout
        while (at := self._data.find(pattern)) < 0:
            before = len(self._data)
            self._poll(deadline)
            if len(self._data) != before:
                deadline = time.monotonic() + self.timeout
        del self._data[:at + len(pattern)]
        self._faults = 0

    def exchange(self, words):
        words = [int(w) for w in words]
        commands = split_commands(self.config, words)
        for attempt in range(self.retries + 1):
            try:
                return self._exchange(words, commands)
            except _Fault:
                self.link_errors += 1
                if attempt == self.retries:
                    break
                self._recover()
        raise LinkError(f"the serial link on {self.port} lost bytes in {self.retries + 1} "
                        f"tries of one exchange (bridge status {self.status})")

    def _exchange(self, words, commands) -> list[int]:
        # Batches of whole commands, each closed by a SYNC, at most half the window each (two
        # in flight keep the line busy).
        batches, pos, size, batch = [], 0, 0, []
        half = self.window // 2
        for command in commands:
            data = escape(_bytes(words[pos:pos + command.length]))
            pos += command.length
            if batch and size + len(data) + 24 > half:
                batches.append(batch)
                batch, size = [], 0
            batch.append(data)
            size += len(data)
        if batch:
            batches.append(batch)
        response: list[int] = []
        outstanding: list[tuple[int, int]] = []
        for batch in batches:
            token = next(self._tokens)
            data = b"".join(batch) + escape(_bytes(sync(token)))
            if len(data) > self.window:
                raise CommandError(f"a command of {len(data)} bytes on the wire does not fit "
                                   f"the bridge's receive FIFO ({self.window} bytes)")
            while outstanding and sum(n for _, n in outstanding) + len(data) > self.window:
                response += self._wait_sync(outstanding.pop(0)[0])
            self._write(data)
            outstanding.append((token, len(data)))
        while outstanding:
            response += self._wait_sync(outstanding.pop(0)[0])
        return response

    def close(self):
        if getattr(self, "_serial", None) is not None:
            self._serial.close()
            self._serial = None
