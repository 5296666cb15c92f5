"""Pure normalisation functions: money, dimensions, dates, medium, names, status.

Each parser returns a clean value or raises a :class:`NormalizationError` subclass naming the field, the value
and the reason; none raises anything else on any input text.
"""

from gbv.normalize.dates import parse_created, parse_sale_date
from gbv.normalize.dimensions import parse_dimensions
from gbv.normalize.errors import NormalizationError, is_missing
from gbv.normalize.medium import classify_medium
from gbv.normalize.money import Money, parse_estimate_range, parse_money
from gbv.normalize.names import (
    artist_key,
    artwork_key,
    name_key,
    normalize_artist_name,
    parse_artist_dates,
    slugify,
)
from gbv.normalize.status import normalize_signature, normalize_status

__all__ = [
    "Money",
    "NormalizationError",
    "artist_key",
    "artwork_key",
    "classify_medium",
    "is_missing",
    "name_key",
    "normalize_artist_name",
    "normalize_signature",
    "normalize_status",
    "parse_artist_dates",
    "parse_created",
    "parse_dimensions",
    "parse_estimate_range",
    "parse_money",
    "parse_sale_date",
    "slugify",
]
