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


def render_lots(lots: pd.DataFrame, sale: bool = False) -> list[str]:
    """:func:`render_lot` for every row of ``lots``, in order."""
    cols = [c for c in TEXT_FIELDS + (SALE_FIELDS if sale else ()) if c in lots.columns]
    return [render_lot(rec, sale=sale) for rec in lots[cols].to_dict("records")]
