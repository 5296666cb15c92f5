"""Dimension strings -> ``(height_cm, width_cm, depth_cm | None)``.

Reads the first "h x w [x d] unit" group: ``"65.5 x 81 cm"``, ``"25 3/4 x 31 7/8 in."``, ``"30.00\\" x 22.25"``
(closing inch mark missing), ``"15,2 x 15,2 cm"`` (comma decimals), ``"120 × 80 × 40 mm"``,
``"60 1/4 by 41 3/4 in (153 by 106cm)"``, ``"H. 30 x W. 20 cm"``. A unit may follow each number or the group.
K Auction's forms: ``"45ⅹ64cm (edition 73/150)"`` (a roman numeral ten for "x"; the edition after the size is
ignored), ``"21.5×20.5(h)cm"`` (a value marked ``(h)`` is the height, wherever it stands), ``"57×80×29(d)cm"``.
A diameter alone (``"diameter 39cm"``, ``"Ø 39 cm"``) gives height = width = the diameter, no depth.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from gbv.normalize.errors import DimensionsError, is_missing

CM_PER = {"cm": 1.0, "mm": 0.1, "m": 100.0, "in": 2.54}
MAX_CM = 5000.0  # 50 m: anything larger is a misread

_FRACTIONS = {
    "½": " 1/2",
    "¼": " 1/4",
    "¾": " 3/4",
    "⅛": " 1/8",
    "⅜": " 3/8",
    "⅝": " 5/8",
    "⅞": " 7/8",
    "⅓": " 1/3",
    "⅔": " 2/3",
}
_NUM = r"(?:\d+(?:[.,]\d+)?[\s-]+\d+\s*/\s*\d+|\d+\s*/\s*\d+|\d+(?:[.,]\d+)?)"
_UNIT = r"(?:cm|mm|m(?![a-z])|inches|inch|ins?\b|\"|''|”|″)"
_LABEL = r"(?:(?:h|w|d|l|height|width|depth|length|diam|diameter)\s*[.:]?\s*)?"
_SEP = r"\s*(?:x|×|ⅹ|\*|by)\s*"  # "ⅹ" (U+2179, small roman numeral ten) stands in for "x" at K Auction
_AFTER_LABEL = r"(?:\s*\(\s*([hwd])\s*\))?"  # K Auction marks a value after it: "21.5×20.5(h)cm", "57×80×29(d)cm"
_ITEM = rf"{_LABEL}({_NUM}){_AFTER_LABEL}\s*\.?\s*({_UNIT})?\.?"
_GROUP_RE = re.compile(rf"{_ITEM}{_SEP}{_ITEM}(?:{_SEP}{_ITEM})?(?:\s*({_UNIT}))?", re.IGNORECASE)
_DIAMETER_RE = re.compile(rf"(?<![^\W\d_])(?:diameter|diam\.?|dia\.?|ø|⌀)\s*[.:]?\s*({_NUM})\s*({_UNIT})", re.IGNORECASE)


def _unit_of(token: str | None) -> str | None:
    if not token:
        return None
    t = token.lower()
    if t in {"cm", "mm", "m"}:
        return t
    return "in"


def _number(text: str, original: Any) -> float:
    t = text.strip()
    whole = 0.0
    m = re.fullmatch(r"(?:(\d+(?:[.,]\d+)?)[\s-]+)?(\d+)\s*/\s*(\d+)", t)
    if m:
        if m.group(1):
            whole = float(m.group(1).replace(",", "."))
        num, den = int(m.group(2)), int(m.group(3))
        if den == 0 or num >= den:
            raise DimensionsError("dimensions", original, f"bad fraction {t!r}")
        return whole + num / den
    if re.fullmatch(r"\d+,\d{3}", t):  # "1,200 mm": thousands
        return float(t.replace(",", ""))
    return float(t.replace(",", "."))


@lru_cache(maxsize=65536)
def _parse(text: str) -> tuple[float, float, float | None]:
    s = text
    for k, v in _FRACTIONS.items():
        s = s.replace(k, v)
    m = _GROUP_RE.search(s)
    if not m:
        dm = _DIAMETER_RE.search(s)
        if dm:  # a round work ("diameter 39cm"): its bounding box is diameter x diameter
            v = round(_number(dm.group(1), text) * CM_PER[_unit_of(dm.group(2))], 3)
            if not 0 < v <= MAX_CM:
                raise DimensionsError("dimensions", text, f"implausible size {v} cm")
            return float(v), float(v), None
        raise DimensionsError("dimensions", text, "no 'height x width' group found")
    nums = [m.group(1), m.group(4), m.group(7)]
    labels = [(m.group(i) or "").lower() for i in (2, 5, 8)]
    units = [_unit_of(m.group(i)) for i in (3, 6, 9, 10)]
    given = {u for u in units if u}
    if not given:
        # a closing inch mark may be missing ('30.00" x 22.25'); look right after the group for a unit
        tail = re.match(rf"\s*\(?\s*({_UNIT})", s[m.end() :], re.IGNORECASE)
        if tail:
            given = {_unit_of(tail.group(1))}
    if not given:
        raise DimensionsError("dimensions", text, "no unit (cm, mm, m or in)")
    if len(given) > 1:
        raise DimensionsError("dimensions", text, f"mixed units {sorted(given)}")
    factor = CM_PER[given.pop()]
    values = [None if n is None else round(_number(n, text) * factor, 3) for n in nums]
    for v in values:
        if v is not None and not (0 < v <= MAX_CM):
            raise DimensionsError("dimensions", text, f"implausible size {v} cm")
    if labels[0] != "h" and "h" in labels[1:]:  # "21.5×20.5(h)cm": width first, the marked value is the height
        i = labels.index("h")
        values[0], values[i] = values[i], values[0]
    h, w, d = values
    return float(h), float(w), (float(d) if d is not None else None)


def parse_dimensions(value: Any) -> tuple[float, float, float | None]:
    """Parse a size text into centimetres ``(height, width, depth or None)`` (rounded to 0.001 cm)."""
    if not isinstance(value, str):
        raise DimensionsError("dimensions", value, "dimensions must be text")
    if is_missing(value):
        raise DimensionsError("dimensions", value, "no dimensions given")
    return _parse(value)


def format_dimensions(h: float, w: float, d: float | None = None, unit: str = "cm") -> str:
    """Write a size the way catalogues do (inverse of :func:`parse_dimensions` up to rounding)."""
    factor = CM_PER[unit]
    parts = [h, w] + ([d] if d is not None else [])
    nums = [f"{p / factor:g}" for p in parts]
    suffix = " in." if unit == "in" else f" {unit}"
    return " x ".join(nums) + suffix
