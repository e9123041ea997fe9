# SPDX-License-Identifier: BSD-2-Clause
"""firmware.runtime: resident weight images, loaded once."""

import numpy as np

from firmware.runtime import FunctionalBackend, Runtime
from golden.contract.isa import Opcode, command_header
from tests.helpers import multipass_config, random_layer, ref_acc


def test_resident_weights_are_loaded_once(rng):
    cfg = multipass_config(weight_depth=64)
    backend = FunctionalBackend(cfg)
    runtime = Runtime(backend)
    x, w = random_layer(rng, 2, 5, 4)
    sent = []
    execute = backend.execute
    backend.execute = lambda words, n: sent.append(words) or execute(words, n)
    for _ in range(2):
        np.testing.assert_array_equal(runtime.matmul(x, w), ref_acc(x, w))
    loads = [sum(1 for i, word in enumerate(words)
                 if word == command_header(Opcode.LOAD_WEIGHTS)) for words in sent]
    assert loads == [1, 0, 0]        # the image once, then the two products without it
