# SPDX-License-Identifier: BSD-2-Clause
"""The board checkpoints (golden.formats.BOARD_MODELS): each is its preset's model, every one of
its BitLinears stays resident in its board's weight memory, and RESULTS.md shows the
perplexity recorded in the checkpoint."""


import pytest

from firmware.compiler import compile_weights
from firmware.placement import ResidentPlacement
from golden.experiments import PRESETS
from golden.formats import BOARD_MODELS, load_model, read_info
from golden.model import ModelConfig
from hw.boards import BOARDS

from .checkpoints import RESULTS, load_committed


def _board(name: str) -> str:
    board = name.removesuffix("-b158")
    assert board in BOARDS, f"{name} names no board of hw.boards.BOARDS"
    return board


def _weight_words(model, config) -> list[int]:
    return [len(compile_weights(config, layer.int_weights().w_t.numpy()).words)
            for layer in model.bitlinears().values()]


@pytest.mark.parametrize("name", BOARD_MODELS)
def test_board_model_is_its_preset_and_fits_the_boards_weight_memory(name):
    model = load_committed(name, BOARD_MODELS[name], max_bytes=1_000_000)
    preset = PRESETS[name]
    assert preset.shipped and preset.train["corpus"] == "stdlib"
    assert model.config == ModelConfig(**preset.model)
    info = read_info(name)
    assert info["train_config"]["steps"] == preset.train["steps"]
    assert info["train_config"]["threads"] == 1
    # The runtime's placement rule keeps every image resident: none is left out.
    config = BOARDS[_board(name)].config
    placement = ResidentPlacement(config.weight_depth)
    words = _weight_words(model, config)
    assert all(placement.place(i, n) is not None for i, n in enumerate(words)), \
        (name, sum(words), config.weight_depth)
    # And the model is not far smaller than the board holds (the README gives the figures).
    assert sum(words) > 0.75 * config.weight_depth


def test_a_model_one_layer_wider_would_not_fit():
    """The check above can fail: the ULX3S model with width 96 needs more than 16384 words."""
    config = BOARDS["ulx3s"].config
    wide = load_model("ulx3s-b158").config.to_dict() | {"dim": 96}
    from golden.model import Decoder
    model = Decoder(ModelConfig(**wide), seed=0)
    assert sum(_weight_words(model, config)) > config.weight_depth


@pytest.mark.parametrize("name", BOARD_MODELS)
def test_board_model_is_the_one_in_results(name):
    info = read_info(name)
    row = next(line for line in RESULTS.read_text().splitlines()
               if line.startswith(f"| {name} |"))
    assert f"| {info['final_fake_quant']['ppl']:.3f} |" in row
    assert f"| {info['train_config']['steps']} |" in row
