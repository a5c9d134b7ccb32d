"""Collect what matters for MySQL authentication in this process.

The code is in :mod:`connbroker._environment`, which the inventory report
shares without importing the doctor.
"""

from __future__ import annotations

from connbroker._environment import Environment, Package, collect

__all__ = ["Environment", "Package", "collect"]
