# SPDX-License-Identifier: BSD-2-Clause
import argparse

import pytest

from golden.contract.config import AcceleratorConfig, signed_bits_for


def test_defaults_are_valid():
    cfg = AcceleratorConfig()
    assert (cfg.rows, cfg.cols, cfg.act_bits) == (16, 16, 8)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("rows", 0, "rows must be between 1 and 1024, not 0"),
    ("cols", -3, "cols must be between 1 and 1024, not -3"),
    ("rows", 2.5, "rows must be an integer, not 2.5"),
    ("cols", True, "cols must be an integer, not True"),
    ("act_bits", 1, "act_bits must be between 2 and 16, not 1"),
    ("max_k", 0, "max_k must be at least 1, not 0"),
])
def test_bad_field_is_named(field, value, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        AcceleratorConfig(**{field: value})


@pytest.mark.parametrize("value", [0, 5, -1, 2.0, True])
def test_weight_rows_per_cycle_is_from_one_to_rows(value):
    with pytest.raises(ValueError, match=rf"^weight_rows_per_cycle must be an integer from 1 to "
                                         rf"rows=4 .*, not {value!r}$"):
        AcceleratorConfig(rows=4, cols=2, weight_rows_per_cycle=value)


@pytest.mark.parametrize(("rows", "lanes", "beats", "tile_rows"), [
    (16, 1, 16, 16), (16, 4, 4, 16), (16, 16, 1, 16), (3, 2, 2, 4), (8, 3, 3, 9)])
def test_wide_weight_path_geometry(rows, lanes, beats, tile_rows):
    for fmt, per_word, lane_bits in (("2bit", 1, 2), ("1.6bit", 5, 8)):
        cfg = AcceleratorConfig(rows=rows, cols=4, weight_rows_per_cycle=lanes,
                                weight_format=fmt)
        assert (cfg.tile_beats, cfg.tile_rows) == (beats, tile_rows)
        assert cfg.weight_rows_per_word == per_word * lanes
        assert cfg.weight_word_bits == lane_bits * 4 * lanes


def test_accumulator_that_could_overflow_is_refused():
    # 128 * 6912 = 884736 needs 21 bits (REFERENCE.md section 1: K = 6912 needs 21 bits).
    AcceleratorConfig(acc_bits=21, max_k=6912)
    with pytest.raises(ValueError, match=r"acc_bits=20 could overflow.*needs 21 bits"):
        AcceleratorConfig(acc_bits=20, max_k=6912)


def test_fifo_too_shallow_is_refused():
    with pytest.raises(ValueError, match="fifo_depth=5 cannot sustain"):
        AcceleratorConfig(rows=4, cols=4, fifo_depth=5)


@pytest.mark.parametrize(("terms", "bits"), [(1, 9), (2, 10), (3, 10), (4, 11), (16, 13),
                                             (6912, 21)])
def test_psum_bits_follow_bit_growth(terms, bits):
    cfg = AcceleratorConfig()
    assert cfg.psum_bits(terms) == bits
    # The extreme sum fits, and one more bit of magnitude would not.
    extreme = terms * 128
    assert -(1 << (bits - 1)) <= -extreme and extreme <= (1 << (bits - 1)) - 1
    assert extreme > (1 << (bits - 2)) - 1


def test_signed_bits_for():
    assert [signed_bits_for(m) for m in (0, 1, 127, 128, 255, 256)] == [1, 2, 8, 9, 9, 10]
    with pytest.raises(ValueError, match="not -1"):
        signed_bits_for(-1)


def test_round_trips_and_unknown_fields():
    cfg = AcceleratorConfig(rows=4, cols=8, acc_bits=24, max_k=1024)
    assert AcceleratorConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(ValueError, match=r"unknown configuration field.*: colz"):
        AcceleratorConfig.from_dict({"rows": 4, "colz": 8})


def test_command_line_options_cover_every_field():
    parser = argparse.ArgumentParser()
    AcceleratorConfig.add_arguments(parser)
    args = parser.parse_args(["--rows", "4", "--cols", "8", "--acc-bits", "24", "--max-k", "4096"])
    assert AcceleratorConfig.from_args(args) == AcceleratorConfig(rows=4, cols=8, acc_bits=24,
                                                                  max_k=4096)


def test_frozen():
    cfg = AcceleratorConfig()
    with pytest.raises(AttributeError):
        cfg.rows = 8
