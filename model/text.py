"""A lot as one line of text for the transformer: what a specialist reads in a catalogue entry.

``render_lot(row)`` -> ``"Pablo Picasso (Spanish, 1881-1973). Tete de femme. Oil on canvas. 65 x 54 cm.
1932. signed and dated. <description>"``: artist (nationality, life dates), title, medium, size in cm, year of
creation, signature, edition, then the catalogue description with HTML and whitespace cleaned. The most
informative fields come first, so truncation to a short ``max_length`` cuts the description, not the artist.

Never rendered: anything about the sale's outcome or the house's opinion (prices, estimates, status), so the
text cannot leak the target. The sale itself (house, city, sale title: "Christie's. New York. Impressionist &
Modern Evening Sale") is rendered only with ``sale=True`` (before the description), since words like "Evening
Sale" carry market tier; the date never is (it reaches the model as tabular signals).
"""

from __future__ import annotations

import html
import math
import re

import numpy as np
import pandas as pd

TEXT_FIELDS = ("artist_name", "artist_nationality", "artist_birth_year", "artist_death_year", "title", "medium",
               "height_cm", "width_cm", "depth_cm", "year_created", "signature", "edition", "description")
SALE_FIELDS = ("auction_house", "house", "sale_location", "sale_title")

_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")
MAX_DESCRIPTION_CHARS = 400


def _present(v) -> bool:  # noqa: ANN001
    if v is None:
        return False
    if isinstance(v, float) and math.isnan(v):
        return False
    try:
        if pd.isna(v):
            return False
    except (TypeError, ValueError):
        pass
    return str(v).strip() != ""


def _clean(v) -> str:  # noqa: ANN001
    text = html.unescape(_TAG.sub(" ", str(v)))
    return _SPACE.sub(" ", text).strip()


def _year(v) -> str | None:  # noqa: ANN001
    try:
        y = float(v)
    except (TypeError, ValueError):
        return None
    return str(int(y)) if math.isfinite(y) else None


def _cm(v) -> str | None:  # noqa: ANN001
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(x) or x <= 0:
        return None
    return f"{x:.0f}" if x >= 10 else f"{x:.1f}"


def render_lot(row: dict | pd.Series, sale: bool = False) -> str:
    """One lot (a mapping with any of :data:`TEXT_FIELDS`) as text; missing fields are simply left out.

    ``sale=True`` adds the house (``auction_house``, else ``house``), the city and the sale title."""
    get = row.get
    parts: list[str] = []
    artist = _clean(get("artist_name")) if _present(get("artist_name")) else "Unknown artist"
    born, died = _year(get("artist_birth_year")), _year(get("artist_death_year"))
    bio = [_clean(get("artist_nationality"))] if _present(get("artist_nationality")) else []
    if born:
        bio.append(f"{born}-{died}" if died else f"born {born}")
    parts.append(f"{artist} ({', '.join(bio)})" if bio else artist)
    for field in ("title", "medium"):
        if _present(get(field)):
            parts.append(_clean(get(field)))
    dims = [d for d in (_cm(get("height_cm")), _cm(get("width_cm")), _cm(get("depth_cm"))) if d]
    if dims:
        parts.append(" x ".join(dims) + " cm")
    created = _year(get("year_created"))
    if created:
        parts.append(created)
    if _present(get("signature")):
        parts.append(_clean(get("signature")).replace("_", " "))
    if _present(get("edition")):
        parts.append(f"edition {_clean(get('edition'))}")
    if sale:
        house = get("auction_house") if _present(get("auction_house")) else get("house")
        for v in (house, get("sale_location"), get("sale_title")):
            if _present(v):
                parts.append(_clean(v))
    if _present(get("description")):
        parts.append(_clean(get("description"))[:MAX_DESCRIPTION_CHARS])
    return ". ".join(p.rstrip(".") for p in parts if p) + "."


def _per_value(col: pd.Series, fn) -> np.ndarray:  # noqa: ANN001
    """``fn`` of every value of ``col`` (an object array), calling ``fn`` once per *distinct* value where that is
    exact: float columns, and object columns holding only strings (``1`` and ``1.0`` would hash alike but print
    differently, so mixed object columns are mapped value by value)."""
    values = col.to_numpy()
    if len(values) == 0:
        return np.zeros(0, dtype=object)
    if values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) not in ("string", "empty"):
        return np.fromiter((fn(v) for v in values), dtype=object, count=len(values))
    codes, uniq = pd.factorize(values, use_na_sentinel=True)
    table = np.empty(len(uniq) + 1, dtype=object)
    table[:-1] = [fn(v) for v in uniq]
    table[-1] = fn(None)  # code -1: missing (None, NaN, NaT, pd.NA are all absent to render_lot)
    return table[codes]


def _text(v) -> str:  # noqa: ANN001 - a field as render_lot writes it: cleaned, "" when absent
    return _clean(v) if _present(v) else ""


def _opt_text(v) -> str | None:  # noqa: ANN001
    return _clean(v) if _present(v) else None


def _artist_part(name: str | None, nationality: str | None, born: str | None, died: str | None) -> str:
    artist = "Unknown artist" if name is None else name
    bio = [nationality] if nationality is not None else []
    if born:
        bio.append(f"{born}-{died}" if died else f"born {born}")
    return f"{artist} ({', '.join(bio)})" if bio else artist


def _dims_part(h: str | None, w: str | None, d: str | None) -> str:
    dims = [x for x in (h, w, d) if x]
    return " x ".join(dims) + " cm" if dims else ""


def render_lots(lots: pd.DataFrame, sale: bool = False) -> list[str]:
    """:func:`render_lot` for every row of ``lots``, in order (the same strings, tests/model/test_transformer.py).

    Column-wise: each field is cleaned once per distinct value (artist names, media, signatures and sizes repeat
    across a catalogue), then the parts of each row are joined; no per-row dict or ``pd.isna`` calls."""
    n = len(lots)
    if n == 0:
        return []

    def col(name: str) -> pd.Series:
        return lots[name] if name in lots.columns else pd.Series([None] * n, index=lots.index, dtype=object)

    def field(name: str, fn) -> np.ndarray:  # noqa: ANN001
        return _per_value(col(name), fn) if name in lots.columns else np.full(n, fn(None), dtype=object)

    artist = [_artist_part(*t) for t in zip(field("artist_name", _opt_text), field("artist_nationality", _opt_text),
                                            field("artist_birth_year", _year), field("artist_death_year", _year),
                                            strict=True)]
    dims = [_dims_part(*t) for t in zip(field("height_cm", _cm), field("width_cm", _cm), field("depth_cm", _cm),
                                        strict=True)]
    created = field("year_created", lambda v: _year(v) or "")
    parts = [artist, field("title", _text), field("medium", _text), dims, created,
             field("signature", lambda v: _text(v).replace("_", " ")),
             field("edition", lambda v: f"edition {_clean(v)}" if _present(v) else "")]
    if sale:
        house = field("auction_house", _text)
        has_auction_house = field("auction_house", _present).astype(bool)
        parts.append(np.where(has_auction_house, house, field("house", _text)))
        parts += [field("sale_location", _text), field("sale_title", _text)]
    parts.append(field("description", lambda v: _text(v)[:MAX_DESCRIPTION_CHARS]))
    return [". ".join(p.rstrip(".") for p in row if p) + "." for row in zip(*parts, strict=True)]
