# SPDX-License-Identifier: BSD-2-Clause
"""The golden model: the contract with the hardware, and the PyTorch reference of BitNet.

The bottom layer of the project: golden/ imports nothing from hw/, firmware/, sim/ or reports/.

* :mod:`golden.contract`: the configuration, the command set, the codecs and the tile loop
  shared by hardware, host, benches and reports (torch-free);
* :mod:`golden.quant`, :mod:`golden.layers`, :mod:`golden.model`: the quantizers, the three
  BitLinear families and the decoder (PyTorch);
* :mod:`golden.bitlinear`, :mod:`golden.intpath`: the exact integer reference of a BitLinear
  and the hook that routes every integer product to another executor (the RTL, in ``make
  sim``);
* :mod:`golden.formats`: checkpoints, the project's own and Hugging Face transformers';
* :mod:`golden.train`, :mod:`golden.data`, :mod:`golden.experiments`: training, the corpus and
  the runs behind the perplexity table; :mod:`golden.mac`: the baselines' reference arithmetic.

This file imports nothing, so that ``import golden.contract`` never loads PyTorch.
"""
