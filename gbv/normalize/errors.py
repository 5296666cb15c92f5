"""The one error every normaliser raises on input it cannot make sense of."""

from __future__ import annotations

import math
from typing import Any


class NormalizationError(ValueError):
    """``value`` of ``field`` could not be normalised, because ``reason``.

    Every parser in :mod:`gbv.normalize` raises a subclass of this (never another exception) for junk input,
    so callers can quarantine the row with the field and a reason that names the value.
    """

    def __init__(self, field: str, value: Any, reason: str):
        self.field = field
        self.value = value
        self.reason = reason
        shown = repr(value)
        if len(shown) > 120:
            shown = shown[:117] + "..."
        super().__init__(f"{field}: {reason} (got {shown})")


class MoneyError(NormalizationError):
    pass


class DimensionsError(NormalizationError):
    pass


class DateError(NormalizationError):
    pass


class ArtistNameError(NormalizationError):
    pass


class StatusError(NormalizationError):
    pass


MISSING_MARKERS = frozenset(
    {
        "",
        "-",
        "--",
        "—",
        "n/a",
        "na",
        "n.a.",
        "none",
        "null",
        "nan",
        "nat",
        "unknown",
        "not given",
        "not available",
        "unavailable",
        "-1",
    }
)


def is_missing(value: Any) -> bool:
    """True for None, NaN/NA, empty strings and the usual "no value" markers (``n/a``, ``-``, ``-1``...)."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    try:
        import pandas as pd

        if value is pd.NA or value is pd.NaT:
            return True
    except ImportError:  # pragma: no cover
        pass
    if isinstance(value, str):
        return value.strip().casefold() in MISSING_MARKERS
    return False
