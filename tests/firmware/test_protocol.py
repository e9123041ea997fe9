# SPDX-License-Identifier: BSD-2-Clause
"""firmware.protocol: PROTOCOL.md is what the contract says, and every member is described."""

import pytest
from amaranth.lib import enum

from firmware.protocol import PROTOCOL_PATH, main, member_docs, render_protocol
from golden.contract import isa


def test_the_committed_protocol_document_is_current():
    assert PROTOCOL_PATH.read_text() == render_protocol(), \
        "PROTOCOL.md is stale: run python -m firmware.protocol"
    assert main(["--check"]) == 0


def test_a_stale_document_is_reported(tmp_path, capsys):
    stale = tmp_path / "PROTOCOL.md"
    stale.write_text("old\n")
    assert main(["--check", "--out", str(stale)]) == 1
    assert "is stale: run python -m firmware.protocol" in capsys.readouterr().err


def test_every_opcode_flag_and_counter_is_described():
    for cls in (isa.Opcode, isa.ErrorFlag, isa.Counter):
        assert set(member_docs(cls)) >= {m.name for m in cls}
    text = render_protocol()
    for member in (*isa.Opcode, *isa.ErrorFlag):
        assert f"| {member.name} |" in text


class Undocumented(enum.Enum, shape=2):
    #: described
    A = 0
    B = 1


def test_an_undescribed_member_is_refused():
    with pytest.raises(ValueError, match="Undocumented members without a #: description: B"):
        member_docs(Undocumented)
