"""What the demo spiders share: arguments, the site boundary, and how failures become rejects.

Not a spider itself (no ``name``), so Scrapy's spider loader skips it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlsplit

import scrapy
from scrapy.exceptions import IgnoreRequest
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from crawlers.items import CrawlRejectItem
from crawlers.middlewares.origin import OFFSITE_REASON, origin_of
from gbv.settings import safe_component


class DemoSpiderBase(scrapy.Spider):
    """Arguments (``-a`` on the command line): ``house``, ``base_url``, ``run_date`` (YYYY-MM-DD, names the
    landing folder; default today).

    ``incomplete`` lists reasons the crawl cannot be complete (an index or API page that failed after retries:
    the lots behind it were never seen); the landing pipeline then refuses to mark the run successful.
    """

    def __init__(
        self,
        house: str | None = None,
        base_url: str | None = None,
        run_date: str | None = None,
        *args: Any,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        if not house:
            raise ValueError(f"spider {self.name}: the 'house' argument is required")
        if not base_url:
            raise ValueError(f"spider {self.name}: the 'base_url' argument is required")
        self.house = safe_component(house, "house")
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"spider {self.name}: base_url must be an http(s) URL, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        # The crawl never leaves the site it was pointed at: OffsiteMiddleware reads the host name,
        # crawlers.middlewares.origin.SameOriginMiddleware the whole origin (scheme, host, port).
        self.allowed_domains = [parts.hostname]
        self.allowed_origins = {origin_of(base_url)}
        self.run_date = run_date or dt.date.today().isoformat()
        dt.date.fromisoformat(self.run_date)  # raises on a malformed date
        safe_component(self.run_date, "run date")
        self.source = f"demo_{self.house}"
        self.incomplete: list[str] = []

    # -- helpers for subclasses --
    def _inc(self, key: str, n: int = 1) -> None:
        crawler = getattr(self, "crawler", None)
        if crawler is not None and crawler.stats is not None:
            crawler.stats.inc_value(key, n)

    def reject(self, url: str, stage: str, reason: str, payload: Any = None) -> CrawlRejectItem:
        self._inc(f"gbv/rejects/{stage}")
        self.logger.warning("reject (%s) %s: %s", stage, url, reason)
        return CrawlRejectItem(source=self.source, url=url, stage=stage, reason=reason, payload=payload)

    @staticmethod
    def describe_failure(failure: Failure) -> str:
        if failure.check(HttpError):
            return f"HTTP {failure.value.response.status}"
        return f"{failure.type.__name__}: {failure.getErrorMessage()}"

    @staticmethod
    def skipped_on_purpose(failure: Failure) -> bool:
        """robots.txt forbids it or it is off-site: the crawl leaves it alone by design. Any other
        ``IgnoreRequest`` (too many redirects, a redirect loop) is a page we wanted and could not get."""
        if not failure.check(IgnoreRequest) or failure.check(HttpError):
            return False
        message = failure.getErrorMessage()
        return (
            "robots.txt" in message
            or message.startswith(OFFSITE_REASON)
            or message.startswith("Filtered offsite")
        )

    def on_page_error(self, failure: Failure):
        """A content page (one sale) failed after retries: record it; the rest of the crawl goes on."""
        if self.skipped_on_purpose(failure):
            self._inc("gbv/ignored_requests")  # robots.txt or off-site: skipped on purpose
            return
        yield self.reject(failure.request.url, "fetch", self.describe_failure(failure))

    def on_navigation_error(self, failure: Failure):
        """An index/API page failed after retries: record it and mark the crawl incomplete."""
        if self.skipped_on_purpose(failure):
            self._inc("gbv/ignored_requests")
            self.incomplete.append(f"navigation page ignored: {failure.request.url}")
            return
        reason = self.describe_failure(failure)
        self.incomplete.append(f"{failure.request.url}: {reason}")
        yield self.reject(failure.request.url, "fetch", reason)
