"""Retry pacing: honour ``Retry-After`` and back off exponentially between retries.

Scrapy's ``RetryMiddleware`` retries 429/5xx answers and network errors at once (it ignores ``Retry-After``).
``RetryPacingMiddleware`` sits between it and the downloader (priority 560 > 550):

* ``process_response``: a retryable answer (429, 503, ...) with ``Retry-After`` (seconds or an HTTP date)
  records the wait on the request's meta (``gbv_retry_after``), which ``RetryMiddleware`` copies onto the retry;
* ``process_request``: a retry (``meta["retry_times"] >= 1``) first waits ``Retry-After`` when the server sent
  one, else ``RETRY_BACKOFF_BASE_S * 2 ** (retry_times - 1)``; either way at most ``RETRY_AFTER_MAX_S``.
  The wait does not block the crawl: other requests go on meanwhile.

Settings: ``RETRY_AFTER_MAX_S`` (default 60), ``RETRY_BACKOFF_BASE_S`` (default 0.5).
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time

from scrapy import Request
from scrapy.http import Response

log = logging.getLogger(__name__)

RETRY_AFTER_META = "gbv_retry_after"


def parse_retry_after(value: str | bytes | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date; ``None`` if unusable."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("latin-1", errors="replace")
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(int(value))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT
        import datetime as dt

        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class RetryPacingMiddleware:
    def __init__(self, crawler, max_wait_s: float, backoff_base_s: float, retry_codes: set[int]):
        self.crawler = crawler
        self.max_wait_s = max(0.0, max_wait_s)
        self.backoff_base_s = max(0.0, backoff_base_s)
        self.retry_codes = retry_codes

    @classmethod
    def from_crawler(cls, crawler):
        s = crawler.settings
        return cls(
            crawler,
            s.getfloat("RETRY_AFTER_MAX_S", 60.0),
            s.getfloat("RETRY_BACKOFF_BASE_S", 0.5),
            {int(c) for c in s.getlist("RETRY_HTTP_CODES")},
        )

    def wait_for(self, request: Request) -> float:
        """Seconds to wait before sending ``request`` (0 for a first attempt)."""
        attempt = int(request.meta.get("retry_times", 0))
        if attempt < 1:
            return 0.0
        told = request.meta.get(RETRY_AFTER_META)
        wait = float(told) if told is not None else self.backoff_base_s * 2 ** (attempt - 1)
        return min(wait, self.max_wait_s)

    async def process_request(self, request: Request):
        wait = self.wait_for(request)
        if wait > 0:
            stats = self.crawler.stats
            if stats is not None:
                stats.inc_value("gbv/retry_wait_s", round(wait, 3))
            log.info("waiting %.2fs before retry #%d of %s", wait, request.meta["retry_times"], request.url)
            await asyncio.sleep(wait)
        # A Retry-After applies to the retry it came with, not to later ones.
        request.meta.pop(RETRY_AFTER_META, None)
        return None

    def process_response(self, request: Request, response: Response):
        if response.status in self.retry_codes:
            wait = parse_retry_after(response.headers.get(b"Retry-After"))
            if wait is not None:
                request.meta[RETRY_AFTER_META] = wait
        return response
