"""Medium text -> one of :data:`gbv.contracts.MEDIUM_CLASSES` (or None when nothing is recognised).

Rules, first match wins: photographic processes -> photograph; printmaking techniques -> print; a canvas /
panel / board support -> painting; a paper support -> work_on_paper; sculptural materials -> sculpture; then
the medium alone (oil, acrylic, tempera -> painting; watercolour, gouache, ink, charcoal... -> work_on_paper).
Accepts askART's ``"Oil / Canvas"`` and Arthena's coarse classes (``"painting"``, ``"drawing"``...).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any

from gbv.contracts import MEDIUM_CLASSES
from gbv.normalize.errors import is_missing


def _rx(*words: str) -> re.Pattern[str]:
    return re.compile(r"(?<!\w)(?:" + "|".join(words) + r")(?!\w)")


_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "photograph",
        _rx(
            r"gelatin silver",
            r"silver gelatin",
            r"chromogenic",
            r"c-?print",
            r"c-?type",
            r"photograph\w*",
            r"photo",
            r"platinum(?: palladium)? print",
            r"albumen",
            r"cibachrome",
            r"ilfochrome",
            r"dye[- ]transfer",
            r"polaroid",
            r"daguerreotype",
            r"(?:archival )?pigment print",
            r"inkjet print",
            r"digital print",
            r"lambda print",
            r"salt(?:ed paper)? print",
            r"type c",
            r"dye destruction",
        ),
    ),
    (
        "print",
        _rx(
            r"screen ?prints?",
            r"silk ?screens?",
            r"serigraphs?",
            r"lithographs?\w*",
            r"etchings?",
            r"engravings?",
            r"woodcuts?",
            r"wood engravings?",
            r"linocuts?",
            r"linoleum cut",
            r"aquatints?",
            r"drypoints?",
            r"mezzotints?",
            r"intaglio",
            r"offset",
            r"prints?",
            r"multiples?",
            r"pochoir",
            r"monotypes?",
            r"monoprints?",
            r"giclee",
        ),
    ),
    (
        "painting",
        _rx(
            r"on (?:\w+ )?canvas",
            r"on (?:\w+ )?linen",
            r"on (?:\w+ )?panel",
            r"on (?:\w+ )?board",
            r"on (?:\w+ )?wood",
            r"on masonite",
            r"on copper",
            r"/ ?canvas",
            r"/ ?panel",
            r"/ ?board",
            r"/ ?linen",
            r"canvas",
        ),
    ),
    (
        "work_on_paper",
        _rx(r"on (?:\w+ )?paper", r"on card", r"/ ?paper", r"on vellum", r"on parchment", r"works? on paper"),
    ),
    (
        "sculpture",
        _rx(
            r"bronze",
            r"marble",
            r"patina",
            r"sculpture\w*",
            r"cast",
            r"stone",
            r"granite",
            r"terra ?cotta",
            r"ceramic",
            r"porcelain",
            r"stoneware",
            r"plaster",
            r"resin",
            r"fib(?:re|er)glass",
            r"steel",
            r"iron",
            r"aluminium",
            r"aluminum",
            r"brass",
            r"copper",
            r"wood",
            r"carved",
            r"installation",
            r"neon",
            r"glass",
            r"jade",
            r"assemblage",
            r"decorative arts?",
            r"figure",
        ),
    ),
    (
        "painting",
        _rx(
            r"oil",
            r"oils",
            r"acrylic",
            r"tempera",
            r"encaustic",
            r"enamel",
            r"painting",
            r"spray ?paint",
            r"mixed media",
        ),
    ),
    (
        "work_on_paper",
        _rx(
            r"water ?colou?rs?",
            r"gouache",
            r"charcoal",
            r"pastels?",
            r"ink",
            r"pencil",
            r"graphite",
            r"crayon",
            r"chalk",
            r"drawings?",
            r"sanguine",
            r"collage",
            r"felt[- ]tip",
            r"marker",
            r"ballpoint",
            r"paper",
        ),
    ),
)
assert {c for c, _ in _RULES} == set(MEDIUM_CLASSES)


@lru_cache(maxsize=16384)
def _classify(text: str) -> str | None:
    t = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().casefold()
    t = " ".join(t.replace("_", " ").split())
    for cls, pattern in _RULES:
        if pattern.search(t):
            return cls
    return None


def classify_medium(value: Any) -> str | None:
    """Medium class for a medium text, or None when it is missing or not recognised (never raises)."""
    if not isinstance(value, str) or is_missing(value):
        return None
    return _classify(value)
