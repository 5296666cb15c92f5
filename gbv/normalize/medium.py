"""Medium text -> one of :data:`gbv.contracts.MEDIUM_CLASSES` (or None when nothing is recognised).

Rules, first match wins: photographic processes -> photograph; printmaking techniques -> print; a canvas /
panel / board support -> painting; a paper support -> work_on_paper; sculptural materials -> sculpture; then
the medium alone (oil, acrylic, tempera -> painting; watercolour, gouache, ink, charcoal... -> work_on_paper).
Accepts askART's ``"Oil / Canvas"`` and Arthena's coarse classes (``"painting"``, ``"drawing"``...).

Korean, Chinese and Japanese medium words (K Auction writes its materials in Korean even in its English API
answer: ``캔버스에 유채`` = oil on canvas, ``종이에 먹`` = ink on paper, ``석판화`` = lithograph) are first put into
English with :data:`CJK_TERMS` (the Korean postposition ``에`` / ``위에`` "on" after a support becomes "on
<support>"), then classified by the same rules, so ``비단에 수묵채색`` (ink and colour on silk) gets the class that
``"Ink and colour / Silk"`` gets.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any

from gbv.contracts import MEDIUM_CLASSES
from gbv.normalize.errors import is_missing

# Korean (K Auction's materials), Chinese and Japanese medium words -> English words the rules below know.
CJK_TERMS: dict[str, str] = {
    # Korean: supports
    "캔버스": "canvas",
    "린넨": "linen",
    "마포": "canvas",
    "종이": "paper",
    "장지": "paper",  # jangji, thick Korean mulberry paper
    "한지": "paper",  # hanji, Korean mulberry paper
    "비단": "silk",
    "천": "cloth",
    "패널": "panel",
    "나무박스": "wood box",
    "나무": "wood",
    "합판": "plywood",
    # Korean: media
    "유채": "oil",
    "오일스틱": "oilstick",
    "아크릴": "acrylic",
    "혼합재료": "mixed media",
    "바니쉬": "varnish",
    "수묵담채": "ink and light colour",
    "수묵채색": "ink and colour",
    "수묵": "ink",
    "먹": "ink",
    "담채": "light colour",
    "채색": "colour",
    "호분": "shell white",
    "수채": "watercolour",
    "과슈": "gouache",
    "파스텔": "pastel",
    "연필": "pencil",
    "목탄": "charcoal",
    "콩테": "conte crayon",
    "잉크": "ink",
    "콜라주": "collage",
    "드로잉": "drawing",
    "먼지": "dust",
    "및": "and",
    # Korean: prints, photographs, sculpture
    "석판화": "lithograph",
    "목판화": "woodcut",
    "사후판화": "posthumous print",
    "판화": "print",
    "에칭": "etching",
    "오프셋": "offset",
    "리노컷": "linocut",
    "세리그라프": "serigraph",
    "메조틴트": "mezzotint",
    "실크스크린": "silkscreen",
    "디지털 프린트": "digital print",
    "디아섹": "diasec",  # photographs face-mounted to acrylic glass
    "사진": "photograph",
    "브론즈": "bronze",
    "청동": "bronze",
    "대리석": "marble",
    "조각": "sculpture",
    "도자기": "ceramic",
    "백자": "porcelain",
    "청자": "ceramic",
    # Chinese (simplified / traditional) and Japanese
    "布面油画": "oil on canvas",
    "布面油畫": "oil on canvas",
    "布面丙烯": "acrylic on canvas",
    "布面压克力": "acrylic on canvas",
    "油画": "oil painting",
    "油畫": "oil painting",
    "油彩": "oil",
    "丙烯": "acrylic",
    "アクリル": "acrylic",
    "キャンバス": "canvas",
    "纸本": "on paper",
    "紙本": "on paper",
    "绢本": "on silk",
    "絹本": "on silk",
    "水墨": "ink",
    "设色": "colour",
    "設色": "colour",
    "水彩": "watercolour",
    "石版画": "lithograph",
    "石版畫": "lithograph",
    "リトグラフ": "lithograph",
    "木版画": "woodcut",
    "木版畫": "woodcut",
    "丝网版画": "screenprint",
    "絲網版畫": "screenprint",
    "シルクスクリーン": "silkscreen",
    "銅版画": "etching",
    "铜版画": "etching",
    "青铜": "bronze",
    "青銅": "bronze",
    "写真": "photograph",
    "摄影": "photograph",
    "攝影": "photograph",
    "综合材料": "mixed media",
    "綜合材料": "mixed media",
    "混合媒材": "mixed media",
}
_CJK_CHAR_RE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")
_CJK_TERM_RE = re.compile("|".join(re.escape(t) for t in sorted(CJK_TERMS, key=len, reverse=True)))
_KO_ON_RE = re.compile(r"([a-z]+)\s*(?:위\s*)?에(?![\uac00-\ud7af])")  # "paper 에" / "paper 위에" -> "on paper"


def translate_cjk(text: str) -> str:
    """Korean/Chinese/Japanese medium words -> English (``"캔버스에 유채"`` -> ``"on canvas oil"``); other text
    is returned unchanged."""
    if not _CJK_CHAR_RE.search(text):
        return text
    t = _CJK_TERM_RE.sub(lambda m: f" {CJK_TERMS[m.group(0)]} ", text)
    t = _KO_ON_RE.sub(r"on \1 ", t)
    return " ".join(t.split())


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
            r"diasec",
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
            r"colou?rs?",
            r"paper",
        ),
    ),
)
assert {c for c, _ in _RULES} == set(MEDIUM_CLASSES)


@lru_cache(maxsize=16384)
def _classify(text: str) -> str | None:
    t = unicodedata.normalize("NFKD", translate_cjk(text)).encode("ascii", "ignore").decode().casefold()
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
