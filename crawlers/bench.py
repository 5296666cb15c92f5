"""``gbv bench crawl``: crawl the saved real pages from a local server with the real spiders; pages/s.

The saved pages and API answers in ``../shared/data/auctions`` (``raw-pages-ssartthree/``, ``collectrium-gz475/``)
are served by :class:`SavedPagesServer` on 127.0.0.1 at URL paths like the real sites' (a Christie's sale page at
``/Latin-American-Art-Online-28907.aspx?lid=1``, Bonhams' lot API at ``/api/v1/lots/<sale>/`` ...), and every
spider of :data:`CRAWL_PLAN` crawls it through ``crawlers.run.run_crawl`` (a Scrapy subprocess each, the
project's settings: robots.txt, AutoThrottle, retries) into a temporary ``GBV_HOME``. The files are read from
``../shared`` when the server starts; nothing of them is copied.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

RAW_PAGES = "raw-pages-ssartthree"
COLLECTRIUM = "collectrium-gz475"
RUN_DATE = "2026-10-01"

# The real URLs of the saved pages (paths only; the host is the local server's).
CHRISTIES_SALE_LIST = "/cr.txt"  # the saved list of Christie's sale URLs (test/cr.txt)
CHRISTIES_SALES = {
    "/Latin-American-Art-Online-28907.aspx?lid=1": "test/Latin-American-Art-Online-28907.txt",
    "/The-BJ-Eastwood-Collection-29444.aspx?lid=1": "test/tetetet.html",
}
CHRISTIES_LOT = "/s/reborn-modern-contemporary/autori-vari-34/117335"
SOTHEBYS_AUCTION = "/en/buy/auction/2021/the-contemporary-austins-2021-benefit-auction-hosted-by-sothebys"
KOLLER_LISTING = "/collectrium/19th-century-paintings-8.csv"


def default_data_dir() -> Path:
    """``../shared/data/auctions`` beside the repository (``GBV_SHARED_AUCTIONS`` overrides)."""
    env = os.environ.get("GBV_SHARED_AUCTIONS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1].parent / "shared" / "data" / "auctions"


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def saved_routes(data_dir: Path) -> dict[str, tuple[Path, str]]:
    """URL path (with query) -> (saved file, content type)."""
    raw = data_dir / RAW_PAGES
    html, js, text = "text/html; charset=utf-8", "application/json; charset=utf-8", "text/plain; charset=utf-8"
    routes: dict[str, tuple[Path, str]] = {CHRISTIES_SALE_LIST: (raw / "test/cr.txt", "text/csv; charset=utf-8")}
    for path, name in CHRISTIES_SALES.items():
        routes[path] = (raw / name, html)
    routes[CHRISTIES_LOT] = (raw / "cc.html", html)
    routes[SOTHEBYS_AUCTION] = (raw / "sotheby_sample.html", html)
    query = _json(raw / "query.json")
    routes[f"/api/search/lots?auctionId={query['hits'][0]['auctionId']}&page={query['page']}"] = (
        raw / "query.json",
        js,
    )
    routes[f"/api/lots/{_json(raw / 'p.json')['data']['lot']['lotId']}"] = (raw / "p.json", js)
    routes["/api/v1/sales/?page=1"] = (raw / "b1.json", js)
    for f in sorted((raw / "bonhams").glob("*.json")):  # served under the sale number they hold
        routes[f"/api/v1/lots/{_json(f)['auction_info']['iSaleNo']}/"] = (f, js)
    k = _json(raw / "test/kauction_1.json")["eng"][0]
    routes[f"/api/Auction/{k['auc_kind']}/{k['auc_num']}?page=1"] = (raw / "test/kauction_1.json", js)
    routes[KOLLER_LISTING] = (data_dir / COLLECTRIUM / "19th-century-paintings-8.csv", text)
    return routes


def crawl_plan(data_dir: Path) -> list[tuple[str, dict[str, str]]]:
    """(spider, spider args) for one crawl of every saved source."""
    raw = data_dir / RAW_PAGES
    query = _json(raw / "query.json")
    k = _json(raw / "test/kauction_1.json")["eng"][0]
    return [
        ("christies_sale", {"sale_list": CHRISTIES_SALE_LIST, "sale_ids": "28907,29444"}),
        ("christies_lot", {"lots": CHRISTIES_LOT}),
        ("sothebys_auction", {"auctions": SOTHEBYS_AUCTION}),
        (
            "sothebys_api",
            {
                "auction_ids": query["hits"][0]["auctionId"],
                "lot_ids": _json(raw / "p.json")["data"]["lot"]["lotId"],
                "max_pages": "1",  # only the first search page was saved
            },
        ),
        ("bonhams_api", {"list_pages": "1"}),
        ("kauction_api", {"sales": f"{k['auc_kind']}-{k['auc_num']}"}),
        ("koller_listing", {"listing_path": KOLLER_LISTING}),
    ]


class SavedPagesServer:
    """A threaded HTTP server on 127.0.0.1 (free port) serving ``routes`` (+ an allow-all robots.txt); any other
    path is a 404. ``extra`` maps more paths to (bytes, content type). Use as a context manager."""

    def __init__(self, routes: dict[str, tuple[Path, str]], extra: dict[str, tuple[bytes, str]] | None = None):
        self.routes = routes
        self.extra = dict(extra or {})
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                server.requests.append(self.path)
                if self.path == "/robots.txt":
                    body, ctype = b"User-agent: *\nAllow: /\n", "text/plain"
                elif self.path in server.extra:
                    body, ctype = server.extra[self.path]
                elif self.path in server.routes:
                    file, ctype = server.routes[self.path]
                    body = file.read_bytes()
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> SavedPagesServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def crawl_all(base_url: str, data_dir: Path, settings, timeout_s: float = 300) -> list[tuple[str, Any, float]]:  # noqa: ANN001
    """Run every crawl of the plan against ``base_url``; [(spider, CrawlResult, seconds)]."""
    from crawlers.run import run_crawl

    out = []
    for spider, args in crawl_plan(data_dir):
        t = time.perf_counter()
        result = run_crawl(spider, "", base_url, RUN_DATE, settings, timeout_s=timeout_s, spider_args=args)
        out.append((spider, result, time.perf_counter() - t))
    return out


def bench_crawl(data_dir: Path | None = None, keep: bool = False) -> dict[str, float]:
    data_dir = data_dir or default_data_dir()
    if not (data_dir / RAW_PAGES).is_dir():
        raise FileNotFoundError(f"no saved real pages at {data_dir / RAW_PAGES} (set GBV_SHARED_AUCTIONS)")
    from gbv.settings import get_settings

    home = Path(tempfile.mkdtemp(prefix="gbv-bench-crawl-"))
    settings = dataclasses.replace(get_settings(), home=home)
    t0 = time.perf_counter()
    with SavedPagesServer(saved_routes(data_dir)) as server:
        results = crawl_all(server.base_url, data_dir, settings)
    wall = time.perf_counter() - t0
    print(f"\nbenchmark: real spiders against the saved pages on {server.base_url} — GBV_HOME {home}")
    print(f"  {'spider':18s} {'pages':>6s} {'lots':>6s} {'rejects':>8s} {'seconds':>8s} {'pages/s':>8s}")
    pages_total = 0
    for spider, r, secs in results:
        pages = int(r.stats.get("downloader/response_count", 0))
        pages_total += pages
        print(f"  {spider:18s} {pages:6d} {r.n_items:6d} {r.n_rejected:8d} {secs:8.2f} {pages / secs:8.2f}")
    print(f"  {'all (wall, incl. subprocess start)':36s} {pages_total:6d} pages in {wall:.2f} s = "
          f"{pages_total / wall:.2f} pages/s")
    if not keep:
        shutil.rmtree(home, ignore_errors=True)
    return {"pages": pages_total, "seconds": wall, "pages_per_s": pages_total / wall}


def cmd_bench_crawl(args: argparse.Namespace) -> int:
    bench_crawl(Path(args.data) if args.data else None, keep=args.keep)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``gbv bench crawl`` under the existing ``gbv bench`` group (or create the group)."""
    bench = subparsers.choices.get("bench") or subparsers.add_parser("bench", help="benchmarks")
    bsub = next((a for a in bench._actions if isinstance(a, argparse._SubParsersAction)), None)
    if bsub is None:
        bsub = bench.add_subparsers(dest="bench", required=True)
    c = bsub.add_parser("crawl", help="pages/s of the real spiders against the saved pages on a local server")
    c.add_argument("--data", help="the shared auctions folder (default ../shared/data/auctions)")
    c.add_argument("--keep", action="store_true", help="keep the temporary GBV_HOME")
    c.set_defaults(func=cmd_bench_crawl)
