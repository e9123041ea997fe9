# SPDX-License-Identifier: BSD-2-Clause
"""golden.contract.workloads: the published shapes as REFERENCE.md section 5 gives them."""

from golden.contract.workloads import DEFAULT_PROMPT, MODELS, TINY


def test_2b4t_bitlinears_are_the_published_ones():
    shapes = [(s.name, s.n, s.k) for s in MODELS["2B-4T"].bitlinears()]
    assert shapes == [("q_proj", 2560, 2560), ("k_proj", 640, 2560), ("v_proj", 640, 2560),
                      ("o_proj", 2560, 2560), ("gate_proj", 6912, 2560),
                      ("up_proj", 6912, 2560), ("down_proj", 2560, 6912)]


def test_bitlinear_weights_per_model():
    assert [m.bitlinear_weights for m in MODELS.values()] == [
        24 * (4 * 1536 ** 2 + 3 * 1536 * 4096), 30 * (2 * 2560 ** 2 + 2 * 640 * 2560
                                                     + 3 * 2560 * 6912),
        26 * (4 * 3200 ** 2 + 3 * 3200 * 8640)]
    assert list(MODELS) == ["700M", "2B-4T", "3B"]          # smallest first
    assert TINY.bitlinear_weights == 3_407_872


def test_the_default_prompt_is_ascii():
    assert DEFAULT_PROMPT.isascii() and len(DEFAULT_PROMPT.encode()) == 68
