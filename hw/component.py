# SPDX-License-Identifier: BSD-2-Clause
"""The base of every block that is built from an
:class:`~golden.contract.config.AcceleratorConfig`."""

from amaranth.lib import wiring

from golden.contract.config import AcceleratorConfig

__all__ = ["ConfiguredComponent"]


class ConfiguredComponent(wiring.Component):
    """A component whose ports and structure follow from one configuration.

    Parameters
    ----------
    config : AcceleratorConfig
    members : dict
        The signature members (they usually depend on ``config``).
    """

    def __init__(self, config: AcceleratorConfig, members: dict):
        if not isinstance(config, AcceleratorConfig):
            raise TypeError(f"config must be an AcceleratorConfig, not {type(config).__name__}")
        self._config = config
        super().__init__(members)

    @property
    def config(self) -> AcceleratorConfig:
        return self._config
