# SPDX-License-Identifier: BSD-2-Clause
"""Shared test options: one seed for all randomness (printed on failure) and waveform dumps."""

import os
import zlib

import numpy as np
import pytest


def pytest_addoption(parser):
    parser.addoption("--seed", type=int, default=int(os.environ.get("SEED", "1")),
                     help="seed of all test randomness (default: $SEED or 1)")
    parser.addoption("--waves", action="store_true", default=os.environ.get("WAVES") == "1",
                     help="write waveforms into each test's own directory (or WAVES=1)")


def pytest_report_header(config):
    return f"test seed: {config.getoption('--seed')} (rerun with --seed N or SEED=N)"


@pytest.fixture
def seed(request) -> int:
    """A seed for this test, derived from --seed and the test's id (stable under xdist)."""
    base = request.config.getoption("--seed")
    return (base * 1_000_003 + zlib.crc32(request.node.nodeid.encode())) % (1 << 31)


@pytest.fixture
def rng(seed) -> np.random.Generator:
    return np.random.default_rng(seed)


@pytest.fixture
def waves(request) -> bool:
    return request.config.getoption("--waves")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed and "seed" in getattr(item, "funcargs", {}):
        report.sections.append(("seed", f"--seed {item.config.getoption('--seed')} "
                                        f"(test seed {item.funcargs['seed']})"))
    return report
