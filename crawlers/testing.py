"""Test helper (cf. city-scrapers' ``file_response``): a Scrapy response from a saved page or from a page the
demo site renders, so spider callbacks can be tested without network or reactor.

    resp = file_response(site, "/harrington/sale/HAR-2024-03-A")          # DemoSite.render, no server
    resp = file_response(Path("../shared/pages/x.html"), url="https://house.example/sale/1")  # a saved page
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scrapy.http import HtmlResponse, Request, TextResponse

HTML_SUFFIXES = (".html", ".htm")


def file_response(
    source: Any, path: str | None = None, *, url: str | None = None, meta: dict | None = None
) -> TextResponse:
    if hasattr(source, "render"):  # a gbv.demo.site.DemoSite (started or not)
        if path is None:
            raise ValueError("file_response(site, path): the page path is required")
        status, ctype, body = source.render(path)
        url = url or source.url_root + path
        data = body.encode("utf-8")
        is_html = ctype == "text/html"
    else:
        file = Path(source)
        data = file.read_bytes()
        status = 200
        url = url or file.resolve().as_uri()
        is_html = file.suffix.lower() in HTML_SUFFIXES
        ctype = "text/html" if is_html else "application/json"
    cls = HtmlResponse if is_html else TextResponse
    return cls(
        url=url,
        status=status,
        body=data,
        encoding="utf-8",
        headers={"Content-Type": f"{ctype}; charset=utf-8"},
        request=Request(url=url, meta=meta or {}),
    )
