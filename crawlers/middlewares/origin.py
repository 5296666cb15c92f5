"""The crawl never leaves the site it was pointed at: same scheme, host *and port*.

Scrapy's ``OffsiteMiddleware`` compares host names only (``127.0.0.1:8001`` counts as the same site as
``127.0.0.1:8000``) and lets every request with ``dont_filter=True`` through, including a redirect of a start
request (``RedirectMiddleware`` copies ``dont_filter`` onto the redirected request). This middleware closes both
gaps: a request whose origin is not one of the spider's ``allowed_origins`` is dropped with ``IgnoreRequest``
before robots.txt is even asked (it sits before ``RobotsTxtMiddleware``), whatever its ``dont_filter``.
A spider without ``allowed_origins`` is not restricted here.

``RedirectGuardMiddleware`` (priority 650: it sees a 3xx answer before ``RedirectMiddleware`` at 600) turns
two redirects that Scrapy would drop *silently* (no errback, nothing recorded) into failures the spider's
errback records as rejects: a redirect to another origin (``OffsiteMiddleware`` drops it when it is scheduled)
and a redirect back to a URL already visited in the same chain (the duplicate filter drops it). A chain that
never repeats ends at ``REDIRECT_MAX_TIMES`` as usual (``IgnoreRequest("max redirections reached")``).
"""

from __future__ import annotations

import logging
from urllib.parse import urljoin, urlsplit

from scrapy import Request
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response

log = logging.getLogger(__name__)

DEFAULT_PORTS = {"http": 80, "https": 443}
OFFSITE_REASON = "off-site request"
OFFSITE_REDIRECT_REASON = "redirected off-site"
REDIRECT_LOOP_REASON = "redirect loop"
REDIRECT_CODES = (301, 302, 303, 307, 308)


def origin_of(url: str) -> tuple[str, str, int]:
    """``(scheme, host, port)`` of a URL, the port filled in from the scheme; host lower-cased."""
    parts = urlsplit(url)
    scheme = (parts.scheme or "").lower()
    try:
        port = parts.port
    except ValueError:  # a port out of range or not a number
        port = -1
    return scheme, (parts.hostname or "").lower(), port if port is not None else DEFAULT_PORTS.get(scheme, -1)


class SameOriginMiddleware:
    def __init__(self, crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_request(self, request: Request):
        spider = self.crawler.spider
        allowed = getattr(spider, "allowed_origins", None)
        if not allowed:
            return None
        origin = origin_of(request.url)
        if origin in allowed:
            return None
        stats = self.crawler.stats
        if stats is not None:
            stats.inc_value("gbv/offsite_origin_filtered")
        via = request.meta.get("redirect_urls")
        log.info(
            "not following %s: %s:%s:%s is not this crawl's site%s",
            request.url,
            *origin,
            f" (redirected from {via[-1]})" if via else "",
        )
        raise IgnoreRequest(f"{OFFSITE_REASON}: {request.url}")


class RedirectGuardMiddleware:
    def __init__(self, crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_response(self, request: Request, response: Response):
        if response.status not in REDIRECT_CODES or b"Location" not in response.headers:
            return response
        location = response.headers[b"Location"].decode("latin-1", errors="replace")
        target = urljoin(request.url, location)
        allowed = getattr(self.crawler.spider, "allowed_origins", None)
        if allowed and origin_of(target) not in allowed:
            if self.crawler.stats is not None:
                self.crawler.stats.inc_value("gbv/offsite_redirects")
            raise IgnoreRequest(f"{OFFSITE_REDIRECT_REASON}: {request.url} -> {target}")
        visited = [*request.meta.get("redirect_urls", []), request.url]
        if target in visited:
            raise IgnoreRequest(f"{REDIRECT_LOOP_REASON}: {request.url} -> {target} ({len(visited)} hops)")
        return response
