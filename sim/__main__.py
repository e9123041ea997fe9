# SPDX-License-Identifier: BSD-2-Clause
"""``python -m sim`` (``make sim``): see :mod:`sim.cosim`."""

import sys

from .cosim import main

if __name__ == "__main__":
    sys.exit(main())
