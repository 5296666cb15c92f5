"""The data contracts shared by every stage: column lists, vocabularies and row schemas.

Each stage reads and writes pandas DataFrames with exactly these columns, so the crawl, quality, model and
warehouse code can evolve independently. Change a list here only together with its users and tests.
"""

from __future__ import annotations

SCHEMA_VERSION = "1.0"

# ---- vocabularies ------------------------------------------------------------------------------
MEDIUM_CLASSES = ("painting", "work_on_paper", "print", "photograph", "sculpture")
STYLES = (
    "old_master",
    "impressionism",
    "modernism",
    "surrealism",
    "abstract_expressionism",
    "pop_art",
    "minimalism",
    "contemporary",
    "photography",
    "asian_contemporary",
)
SIGNATURES = ("signed", "signed_and_dated", "monogrammed", "unsigned", "unknown")
LOT_STATUSES = ("sold", "bought_in", "upcoming", "withdrawn")
CURRENCIES = ("USD", "GBP", "EUR", "HKD", "CHF", "JPY", "CNY", "KRW")

# ---- catalogue intake (what a house sends to be valued; DESIGN.md) ------------------------------
CATALOGUE_COLUMNS = (
    "lot_ref", "auction_house", "sale_location", "sale_date", "sale_currency", "lot_number",
    "artist_name", "artist_birth_year", "artist_death_year", "artist_nationality", "title", "medium",
    "year_created", "created_text", "height_cm", "width_cm", "depth_cm", "signature", "description",
    "edition", "image_url", "sale_title",
)
CATALOGUE_REQUIRED = ("lot_ref", "artist_name")

# ---- raw crawl item (spiders yield it, the landing zone stores it as JSONL) ----------------------
# Strings as found on the page/API where the source gives strings; staging normalises them.
RAW_LOT_FIELDS = (
    "source",            # crawler/source name, e.g. "demo_harrington"
    "house",             # house slug, e.g. "harrington"
    "auction_house",     # display name
    "sale_id", "sale_title", "sale_date", "sale_location", "sale_currency",
    "lot_number",
    "artist_name", "artist_birth_year", "artist_death_year", "artist_nationality",
    "artist_dates",      # raw "(French, 1901-1975)" / "(b. 1962)" where a source gives only that
    "title", "medium", "created_text", "dimensions_text", "signature", "description", "edition",
    "image_url",
    "estimate_low", "estimate_high",   # numbers or money strings, sale currency, hammer basis
    "price", "price_basis",            # number/money string; "hammer" | "premium"
    "status",                          # as the source says it (normalised in staging)
    "url",
)

# ---- conformed lots (one row per lot offered; natural key lot_ref) ------------------------------
LOT_COLUMNS = (
    "lot_ref", "source", "house", "auction_house", "sale_id", "sale_title", "sale_date", "sale_location",
    "sale_currency", "lot_number",
    "artist_id", "artist_name", "artist_birth_year", "artist_death_year", "artist_nationality",
    "artwork_id", "title", "medium", "medium_class", "year_created", "height_cm", "width_cm", "depth_cm",
    "signature", "description", "edition", "image_url",
    "estimate_low", "estimate_high", "hammer_price",          # sale currency, hammer basis
    "fx_usd",                                                 # USD per 1 unit of sale currency, on sale date
    "estimate_low_usd", "estimate_high_usd", "hammer_usd",    # hammer basis, USD
    "status",
)

# ---- expert labels (CSV intake; issue 7 keeps it stable) ----------------------------------------
LABEL_COLUMNS = (
    "label_id", "lot_ref", "expert_id", "value_low", "value_point", "value_high", "currency",
    "submitted_at",
)
LABEL_OPTIONAL_COLUMNS = ("style", "attribution_confidence", "condition", "comment")
EXPERT_COLUMNS = ("expert_id", "display_name", "speciality", "joined_at")

# ---- consensus per lot ----------------------------------------------------------------------------
CONSENSUS_COLUMNS = ("lot_ref", "consensus_usd", "low_usd", "high_usd", "n_experts", "spread", "style",
                     "style_confidence")

# ---- quarantine (any stage) ----------------------------------------------------------------------
QUARANTINE_COLUMNS = ("run_date", "stage", "source", "row_ref", "row_number", "field", "reason", "payload")

# ---- valuation output / feed row (DESIGN.md) ------------------------------------------------------
VALUATION_COLUMNS = (
    "lot_ref", "estimate_usd", "low_usd", "high_usd", "expert_value_usd", "confidence", "model_version",
    "comparables", "explanation",
)
