# SPDX-License-Identifier: BSD-2-Clause
"""firmware.runtime: resident weight images, loaded once."""

import numpy as np
import pytest

from firmware import commands
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
    # The device check (READ_STATUS), the image once, then the two products without it.
    assert loads == [0, 1, 0, 0]
    assert sent[0] == commands.read_status()


def test_a_device_that_differs_is_refused_before_any_program(rng):
    from golden.contract.isa import CommandError
    program_config, device_config = multipass_config(), multipass_config(acc_depth=16)
    backend = FunctionalBackend(program_config)
    backend.model = FunctionalBackend(device_config).model      # another device behind it
    runtime = Runtime(backend)
    x, w = random_layer(rng, 2, 5, 4)
    with pytest.raises(CommandError, match=r"not the accelerator this program was built for: "
                                           r"acc_depth=16 \(program: 8\)"):
        runtime.matmul(x, w)
