"""The broker's driver list as the doctor reads it (ListDrivers).

The code is in :mod:`connbroker._environment`, which the inventory report
shares without importing the doctor.
"""

from __future__ import annotations

from connbroker._environment import ENV_VARS, OPTIONAL_PACKAGES, Registry

__all__ = ["ENV_VARS", "OPTIONAL_PACKAGES", "Registry"]
