"""What the spiders yield.

``AuctionLotItem`` carries exactly ``gbv.contracts.RAW_LOT_FIELDS``: strings (or numbers) as the source shows
them; staging normalises. ``CrawlRejectItem`` records something the crawl could not turn into a lot (a page
whose embedded data is broken, a page that failed after retries, an item that failed validation) so nothing is
silently dropped: the landing pipeline writes it to ``rejects.jsonl`` beside the lots.
"""

from __future__ import annotations

import scrapy

from gbv.contracts import RAW_LOT_FIELDS


class AuctionLotItem(scrapy.Item):
    source = scrapy.Field()  # crawler/source name, e.g. "demo_harrington"
    house = scrapy.Field()  # house slug
    auction_house = scrapy.Field()  # display name
    sale_id = scrapy.Field()
    sale_title = scrapy.Field()
    sale_date = scrapy.Field()  # as written: "14 March 2024" / "2024-03-14T19:00:00Z"
    sale_location = scrapy.Field()
    sale_currency = scrapy.Field()
    lot_number = scrapy.Field()  # int, or zero-padded string "0012"
    artist_name = scrapy.Field()
    artist_birth_year = scrapy.Field()
    artist_death_year = scrapy.Field()
    artist_nationality = scrapy.Field()
    artist_dates = scrapy.Field()  # "(French, 1901-1975)" where a source gives only that
    title = scrapy.Field()
    medium = scrapy.Field()
    created_text = scrapy.Field()  # "1965" / "c. 1965" / "1965-67"
    dimensions_text = scrapy.Field()  # "65.5 x 81 cm" / "25 3/4 x 31 7/8 in."
    signature = scrapy.Field()
    description = scrapy.Field()
    edition = scrapy.Field()
    image_url = scrapy.Field()
    estimate_low = scrapy.Field()  # number or money string, sale currency
    estimate_high = scrapy.Field()
    price = scrapy.Field()  # number or money string; None when unsold/forthcoming
    price_basis = scrapy.Field()  # "hammer" | "premium"
    status = scrapy.Field()  # as the source says it
    url = scrapy.Field()  # page / API URL the lot was read from

    @classmethod
    def from_fields(cls, **values: object) -> AuctionLotItem:
        """An item with every field set (``None`` where the source has nothing), so JSONL rows share keys."""
        unknown = set(values) - set(RAW_LOT_FIELDS)
        if unknown:
            raise KeyError(f"not raw lot fields: {sorted(unknown)}")
        return cls({name: values.get(name) for name in RAW_LOT_FIELDS})


class CrawlRejectItem(scrapy.Item):
    source = scrapy.Field()
    url = scrapy.Field()
    stage = scrapy.Field()  # "fetch" | "parse" | "validate" | "landing"
    reason = scrapy.Field()
    payload = scrapy.Field()  # the offending item (dict) or a snippet of the page, when there is one


REJECT_FIELDS = ("source", "url", "stage", "reason", "payload")
