# SPDX-License-Identifier: BSD-2-Clause
"""firmware.compiler: layers of any shape in passes, and programs that refuse what does not fit."""

import numpy as np
import pytest

from firmware.compiler import compile_layer, compile_matmul, compile_weights
from firmware.functional import FunctionalAccelerator
from firmware.runtime import FunctionalBackend
from golden.contract.isa import CommandError
from tests.helpers import multipass_config, random_layer, ref_acc


@pytest.mark.parametrize("weight_format", ["2bit", "1.6bit"])
@pytest.mark.parametrize(("m", "k", "n"), [(1, 5, 4), (3, 40, 7), (20, 9, 31), (7, 33, 26)])
def test_passes_cover_any_shape(weight_format, m, k, n, rng):
    """Layers larger than every memory run in K-, N- and M-passes, exactly."""
    cfg = multipass_config(weight_format=weight_format)
    x, w = random_layer(rng, m, k, n)
    program = compile_layer(cfg, x, w)
    response = FunctionalAccelerator(cfg).run(program.words)
    np.testing.assert_array_equal(program.decode(response), ref_acc(x, w))


@pytest.mark.parametrize("act_bits", [9, 12, 16])
def test_activations_wider_than_8_bits(act_bits, rng):
    """Activations keep all ``act_bits`` bits on their way to the activation buffer (they
    were once tiled through int8, which wrapped every one beyond 8 bits)."""
    cfg = multipass_config(act_bits=act_bits, acc_bits=32)
    x = rng.integers(cfg.act_min, cfg.act_max + 1, size=(5, 11))
    x[0, :2] = cfg.act_min, cfg.act_max
    w = rng.integers(-1, 2, size=(6, 11)).astype(np.int8)
    program = compile_layer(cfg, x, w)
    response = FunctionalAccelerator(cfg).run(program.words)
    np.testing.assert_array_equal(program.decode(response), x @ w.T.astype(np.int64))


def test_program_for_another_configuration_is_refused(rng):
    program = compile_layer(multipass_config(), *random_layer(rng, 2, 4, 3))
    backend = FunctionalBackend(multipass_config(cols=4))
    with pytest.raises(CommandError, match=r"another accelerator configuration: cols=4 "
                                           r"\(program: 3\)"):
        backend.run(program)


def test_shapes_that_do_not_match_are_refused(rng):
    cfg = multipass_config()
    image = compile_weights(cfg, random_layer(rng, 1, 6, 4)[1])
    with pytest.raises(CommandError, match=r"activations are \(M=2, K=5\) but the weights "
                                           r"are \(N=4, K=6\)"):
        compile_matmul(image, random_layer(rng, 2, 5, 4)[0])
    with pytest.raises(ValueError, match=r"weights must be ternary \(-1, 0, \+1\); found 2"):
        compile_weights(cfg, np.array([[0, 2]]))
    with pytest.raises(ValueError, match=r"activation 200 at index \(0, 1\) does not fit"):
        compile_matmul(image, np.array([[0, 200, 0, 0, 0, 0]]))
    program = compile_matmul(image, random_layer(rng, 2, 6, 4)[0])
    with pytest.raises(CommandError, match="expected 14 response words, got 12"):
        program.decode([0] * 12)


def test_prefetching_prefetches_the_following_programs_first_matmul(rng):
    """`prefetching(a, b)`: a PREFETCH of b's first MATMUL (its weight address and tiles)
    before a's commands; a's response unchanged; b then takes the prefetched words (the
    functional model's armed read); refused on weights on chip and for a program with no
    MATMUL."""
    from dataclasses import replace

    from firmware.compiler import prefetching
    from golden.contract.config import AcceleratorConfig

    cfg = AcceleratorConfig(rows=4, cols=8, weight_memory="axi", weight_rows_per_cycle=4)
    backend = FunctionalBackend(cfg)
    (xa, wa), (xb, wb) = (random_layer(rng, 2, 8, 16)[:2] for _ in range(2))
    image_a, image_b = compile_weights(cfg, wa), compile_weights(cfg, wb)
    backend.write_external(0, image_a.to_bytes())
    base_b = len(image_a.to_bytes())
    backend.write_external(base_b, image_b.to_bytes())
    a = compile_matmul(image_a, xa, weight_base=0)
    b = compile_matmul(image_b, xb, weight_base=base_b)
    both = prefetching(a, b)
    assert both.words[len(both.words) - len(a.words):] == a.words
    assert both.response_words == a.response_words
    np.testing.assert_array_equal(both.decode(backend.exchange(both.words)), ref_acc(xa, wa))
    assert backend.model.armed == (base_b, image_b.n_tiles * image_b.k_tiles)
    np.testing.assert_array_equal(b.decode(backend.exchange(b.words)), ref_acc(xb, wb))
    assert backend.model.armed is None
    x, w = random_layer(rng, 2, 6, 4)
    onchip = compile_matmul(compile_weights(multipass_config(), w), x)
    with pytest.raises(CommandError, match="PREFETCH needs weights in external memory"):
        prefetching(onchip, onchip)
    with pytest.raises(CommandError, match="no MATMUL to prefetch for"):
        prefetching(a, replace(b, words=[]))
