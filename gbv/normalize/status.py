"""Lot status and signature vocabularies (:data:`gbv.contracts.LOT_STATUSES`, :data:`gbv.contracts.SIGNATURES`)."""

from __future__ import annotations

import re
from typing import Any

from gbv.normalize.errors import StatusError, is_missing

# The words of the real sources (../shared/data/auctions), each mapped here: Bonhams ``sLotStatus`` ``SOLD`` /
# ``BI`` (bought in) / ``WD`` (withdrawn); collectrium ``Sold`` / ``Unsold``; askART ``-not sold-``, ``Not sold at
# auction.``, ``not communicated`` (sold, price unpublished), ``withdrawn`` / ``13c WITHDRAWN``; Koller ``Sold``;
# K Auction (finish_yn) and Christie's via their spiders ``sold`` / ``unsold``; Sotheby's ``lotState`` ``Closed``
# and K Auction's ``FINISHED`` say only that the sale is over (see _ENDED).
_STATUS_WORDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("withdrawn", re.compile(r"withdrawn|cancel+ed|retired|\bw/?d\b|\bw\.d\b")),
    (
        "bought_in",
        re.compile(
            r"\b(?:unsold|not sold|passed|pass|bought[ -]?in|b\.i\.?|bi|no sale|below reserve"
            r"|reserve not met)\b"
        ),
    ),
    (
        "upcoming",
        re.compile(r"forthcoming|upcoming|open|live|scheduled|pending|in progress|coming soon|closing|bidding"),
    ),
    ("sold", re.compile(r"sold|realised|realized|not communicated|price on request|hammer")),
)
# words that say only that the lot's sale is over (Sotheby's lotState "Closed", K Auction "FINISHED",
# Christie's "post"): a price then means sold, no price bought in
_ENDED = re.compile(r"closed|finished|ended|complete[d]?|over|post|result(?:s)?|past")


def normalize_status(text: Any, price_present: bool, *, past: bool | None = None) -> str:
    """Map a source's status to one of ``sold, bought_in, upcoming, withdrawn``.

    The source's word wins (``"SOLD"``, ``"BI"``, ``"WD"``, ``"passed"``, ``"-not sold-"``, ``"open"``,
    ``"withdrawn"``...). A word that says only that the sale is over (``"Closed"``, ``"FINISHED"``) or no word:
    a price means sold; otherwise ``past`` (sale date on or before the run date) decides between
    bought_in and upcoming; with neither, :class:`StatusError`.
    """
    if not (text is None or isinstance(text, str)) and not is_missing(text):
        raise StatusError("status", text, "status must be text")
    if isinstance(text, str) and not is_missing(text):
        t = " ".join(text.casefold().strip(" -.").split())
        for status, pattern in _STATUS_WORDS:
            if pattern.fullmatch(t) or pattern.search(t) and status != "upcoming":
                return status
        if _ENDED.fullmatch(t):
            return "sold" if price_present else "bought_in"
        raise StatusError("status", text, "unknown status")
    if price_present:
        return "sold"
    if past is True:
        return "bought_in"
    if past is False:
        return "upcoming"
    raise StatusError("status", text, "no status, no price and no sale date to tell")


def normalize_signature(text: Any) -> str:
    """Map signature text to ``signed, signed_and_dated, monogrammed, unsigned`` or ``unknown`` (never raises)."""
    if not isinstance(text, str) or is_missing(text):
        return "unknown"
    t = " ".join(text.casefold().split())
    if re.search(r"\b(unsigned|not signed|no signature)\b", t):
        return "unsigned"
    if re.search(r"\bsigned\b", t) and re.search(r"\bdated\b", t):
        return "signed_and_dated"
    if re.search(r"\bsigned\b|\bsignature\b", t):
        return "signed"
    if re.search(r"\b(monogram\w*|initial+ed|initials)\b", t):
        return "monogrammed"
    return "unknown"
