"""Numbers as people read them: three significant digits and an SI prefix (``10.7 uJ``,
``91.9 us``, ``9.19 kSOP/sample``). Only the text report and plots use these; JSON, CSV and the
Python API keep raw SI values."""

from __future__ import annotations

import math

_PREFIXES = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""), (1e-3, "m"),
             (1e-6, "u"), (1e-9, "n"), (1e-12, "p"), (1e-15, "f"))

#: units written right after their prefix (``kSOP``); any other unit gets the prefix as a
#: separate word (``60.1 k messages``)
SYMBOL_UNITS = ("J", "s", "W", "SOP", "AC", "B", "Hz")


def split_si(value: float, unit: str = "", digits: int = 3) -> tuple[str, str]:
    """``(number, unit with prefix)``; a unit such as ``J/sample`` takes the prefix on its
    first part. Zero, infinities and NaN are written as they are, without a prefix."""
    if unit == "bytes":
        unit = "B"
    if value == 0 or not math.isfinite(value):
        return (f"{value:g}", unit)
    value = float(f"{value:.{digits}g}")  # round first: 999.96 reads 1.00 k, not 1000
    scale, prefix = next(((s, p) for s, p in _PREFIXES if abs(value) >= s), _PREFIXES[-1])
    scaled = value / scale
    decimals = max(0, digits - 1 - int(math.floor(math.log10(abs(scaled)))))
    number = f"{scaled:.{decimals}f}"
    if not prefix:
        return number, unit
    head = unit.split("/")[0]
    if head in SYMBOL_UNITS:
        return number, prefix + unit
    return number, f"{prefix} {unit}".rstrip()


def si(value: float, unit: str = "", digits: int = 3) -> str:
    """``value`` with ``digits`` significant digits and an SI prefix, e.g. ``10.7 uJ``."""
    number, prefixed = split_si(value, unit, digits)
    return f"{number} {prefixed}".rstrip()


def fraction(value: float) -> str:
    """A dimensionless ratio in [0, 1] (accuracy, sparsity) with three decimals (three
    significant digits below 0.01, so that a small ratio does not read as 0)."""
    return f"{value:.3f}" if value == 0 or abs(value) >= 0.01 else f"{value:.3g}"
