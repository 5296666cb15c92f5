"""Network faults while crawling, injected for real by the demo site's fault hooks (127.0.0.1 only).

Every case is one real crawl (a Scrapy subprocess through ``crawlers.run.run_crawl``) of one house against its
own ``DemoSite`` with one fault, and a second local server of its own ("elsewhere", another port, reached as
``localhost`` or as ``127.0.0.1``) that the crawl must never contact. The crawls of all cases run side by side
in one module fixture (short timeouts, small pages); each parametrized test then checks one case's promise:
what could be fetched landed exactly once, what could not is in ``rejects.jsonl`` with its reason, and nothing
was fetched off-site or against robots.txt.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from crawlers.run import CrawlError, read_landed, read_rejects, run_crawl
from gbv.demo.site import DemoSite
from gbv.settings import get_settings

RUN_DATE = "2026-10-01"
NEXT_NIGHT = "2026-10-02"
SALES_PER_PAGE = 4
API_PAGE = 20
FAST = {  # Scrapy settings for the fault crawls: short timeouts and waits
    "DOWNLOAD_TIMEOUT": 1.5,
    "RETRY_TIMES": 3,
    "RETRY_BACKOFF_BASE_S": 0.2,
    "RETRY_AFTER_MAX_S": 5,
    "REDIRECT_MAX_TIMES": 3,
    "AUTOTHROTTLE_ENABLED": False,
}


def lot_ref(row: dict) -> str:
    return f"{row['house']}-{row['sale_id']}-{int(row['lot_number']):04d}"


class Elsewhere:
    """Another web server on this machine (its own port): the crawl must send it nothing."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                owner.requests.append(self.path)
                body = b'<a class="sale-link" href="/catalogue/2">more</a>'
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Case:
    """One fault: where it is injected, the site options, what the crawl must show."""

    name: str
    spider: str  # demo_html (harrington) or demo_api (kestrel)
    site: Callable[[dict], dict]  # ctx -> DemoSite keyword arguments (faults ...)
    settings: dict = field(default_factory=dict)
    expect: str = "lands"  # lands | not_landed


def _sale_path(ctx: dict) -> str:
    return f"/harrington/sale/{ctx['sale']}"


def _api_page2(ctx: dict) -> str:
    return f"/api/kestrel/lots?page=2&page_size={API_PAGE}"


CASES = [
    Case("5xx_then_ok", "demo_html", lambda c: {"faults": {_sale_path(c): ["500", "502"]}}),
    Case("5xx_always", "demo_html", lambda c: {"faults": {_sale_path(c): "503"}}),
    Case("429_retry_after", "demo_api", lambda c: {"faults": {_api_page2(c): ["429:2"]}}),
    Case(
        "429_retry_after_capped",
        "demo_api",
        lambda c: {"faults": {_api_page2(c): ["429:3600"]}},
        {"RETRY_AFTER_MAX_S": 1},
    ),
    Case("timeout", "demo_html", lambda c: {"faults": {_sale_path(c): ["timeout"]}, "fault_sleep_s": 4}),
    Case("connection_reset", "demo_html", lambda c: {"faults": {_sale_path(c): ["reset", "reset"]}}),
    Case("truncated_body_once", "demo_api", lambda c: {"faults": {_api_page2(c): ["truncate"]}}),
    Case("truncated_body_always", "demo_html", lambda c: {"faults": {_sale_path(c): "truncate"}}),
    Case("broken_embedded_json", "demo_html", lambda c: {"faults": {_sale_path(c): "bad_json"}}),
    Case(
        "broken_api_json",
        "demo_api",
        lambda c: {"faults": {_api_page2(c): ["bad_json"]}},
        expect="not_landed",
    ),
    Case("redirect_loop", "demo_html", lambda c: {"faults": {_sale_path(c): "redirect_loop"}}),
    Case("redirect_chain", "demo_html", lambda c: {"faults": {_sale_path(c): "redirect_chain"}}),
    Case("robots_disallow", "demo_html", lambda c: {"robots_disallow": [_sale_path(c)]}),
    Case(
        "offsite_link_other_host",
        "demo_html",
        lambda c: {"partner_url": f"http://localhost:{c['elsewhere'].port}/catalogue"},
    ),
    Case(
        "offsite_link_same_host_other_port",
        "demo_html",
        lambda c: {"partner_url": f"http://127.0.0.1:{c['elsewhere'].port}/catalogue"},
    ),
    Case(
        "offsite_redirect",
        "demo_html",
        lambda c: {"faults": {_sale_path(c): f"redirect:http://127.0.0.1:{c['elsewhere'].port}/sale"}},
    ),
    Case(
        "offsite_redirect_of_start_page",
        "demo_api",
        lambda c: {
            "faults": {
                f"/api/kestrel/lots?page=1&page_size={API_PAGE}": [
                    f"redirect:http://localhost:{c['elsewhere'].port}/api"
                ]
            }
        },
        expect="not_landed",
    ),
]


@dataclass
class Outcome:
    case: Case
    site: DemoSite
    settings: Any
    error: BaseException | None
    house: str
    source: str
    elsewhere_requests: list[str]

    def landed_refs(self) -> list[str]:
        return [lot_ref(r) for r in read_landed(self.source, RUN_DATE, self.settings)]

    def rejects(self) -> list[dict]:
        return read_rejects(self.source, RUN_DATE, self.settings)

    def paths(self, prefix: str) -> list[str]:
        return [p for p in self.site.requested_paths() if p.startswith(prefix)]

    def times(self, path: str) -> list[float]:
        return [r["time"] for r in self.site.requests if r["path"] == path]


def _run_case(case: Case, ctx: dict, world, home: Path) -> Outcome:
    """One crawl with one fault; the case's own "elsewhere" server records anything sent off-site."""
    house = "harrington" if case.spider == "demo_html" else "kestrel"
    settings = dataclasses.replace(get_settings(), home=home)
    elsewhere = Elsewhere()
    ctx = {**ctx, "elsewhere": elsewhere}
    site = DemoSite(world, sales_per_page=SALES_PER_PAGE, max_page_size=API_PAGE, **case.site(ctx))
    error = None
    with site:
        try:
            run_crawl(
                case.spider,
                house,
                site.base_url,
                RUN_DATE,
                settings,
                timeout_s=90,
                spider_args={"page_size": API_PAGE} if case.spider == "demo_api" else None,
                scrapy_settings={**FAST, **case.settings},
            )
        except CrawlError as exc:
            error = exc
    elsewhere.stop()
    return Outcome(case, site, settings, error, house, f"demo_{house}", elsewhere.requests)


@pytest.fixture(scope="module")
def ctx(world):
    lots = world.lots_as_of(world.as_of)
    sale = lots[lots["house"] == "harrington"]["sale_id"].value_counts().index[0]  # a sale with lots
    return {"sale": str(sale)}


@pytest.fixture(scope="module")
def outcomes(ctx, world, tmp_path_factory):
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {
            c.name: pool.submit(_run_case, c, ctx, world, tmp_path_factory.mktemp(f"fault_{c.name}"))
            for c in CASES
        }
    return {name: fut.result() for name, fut in futures.items()}


def _all_refs(out: Outcome) -> set[str]:
    return set(out.site.catalogue.shown_lot_refs(out.house))


def _sale_refs(out: Outcome, sale: str) -> set[str]:
    return {str(rec["lot_ref"]) for rec in out.site.catalogue.lots_by_sale[sale]}


def _lands_without(out: Outcome, missing: set[str]) -> None:
    assert out.error is None, f"{out.case.name}: crawl failed: {out.error}"
    refs = out.landed_refs()
    assert len(refs) == len(set(refs)), "a lot landed twice"
    assert set(refs) == _all_refs(out) - missing


def _one_reject(out: Outcome, url_path: str, stage: str, *reason_parts: str) -> dict:
    rejects = [r for r in out.rejects() if r["url"].endswith(url_path) or url_path in r["url"]]
    assert len(rejects) == 1, out.rejects()
    assert rejects[0]["stage"] == stage
    for part in reason_parts:
        assert part in rejects[0]["reason"], rejects[0]
    return rejects[0]


# ---- each fault: a parametrized case ------------------------------------------------------------------------
def check_5xx_then_ok(out: Outcome, ctx: dict) -> None:
    _lands_without(out, set())
    assert out.rejects() == []
    assert len(out.paths(_sale_path(ctx))) == 3  # 500, 502, then the page


def check_5xx_always(out: Outcome, ctx: dict) -> None:
    _lands_without(out, _sale_refs(out, ctx["sale"]))
    _one_reject(out, _sale_path(ctx), "fetch", "HTTP 503")
    times = out.times(_sale_path(ctx))
    assert len(times) == 1 + FAST["RETRY_TIMES"]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    for k, gap in enumerate(gaps):  # exponential backoff: base * 2**k between attempts
        assert gap >= 0.8 * FAST["RETRY_BACKOFF_BASE_S"] * 2**k, gaps


def check_429_retry_after(out: Outcome, ctx: dict) -> None:
    _lands_without(out, set())
    times = out.times(_api_page2(ctx))
    assert len(times) == 2
    assert times[1] - times[0] >= 1.9  # Retry-After: 2 honoured


def check_429_retry_after_capped(out: Outcome, ctx: dict) -> None:
    _lands_without(out, set())
    times = out.times(_api_page2(ctx))
    assert len(times) == 2
    assert 0.9 <= times[1] - times[0] < 10  # Retry-After: 3600, capped at RETRY_AFTER_MAX_S=1


def check_timeout(out: Outcome, ctx: dict) -> None:
    _lands_without(out, set())
    assert len(out.paths(_sale_path(ctx))) == 2  # timed out once, then fetched
    assert out.rejects() == []


def check_connection_reset(out: Outcome, ctx: dict) -> None:
    _lands_without(out, set())
    assert len(out.paths(_sale_path(ctx))) == 3


def check_truncated_body_once(out: Outcome, ctx: dict) -> None:
    _lands_without(out, set())
    assert len(out.paths(_api_page2(ctx))) == 2  # the short body was not parsed: fetched again
    assert out.rejects() == []


def check_truncated_body_always(out: Outcome, ctx: dict) -> None:
    _lands_without(out, _sale_refs(out, ctx["sale"]))
    _one_reject(out, _sale_path(ctx), "fetch", "DataLoss")
    assert len(out.paths(_sale_path(ctx))) == 1 + FAST["RETRY_TIMES"]


def check_broken_embedded_json(out: Outcome, ctx: dict) -> None:
    _lands_without(out, _sale_refs(out, ctx["sale"]))
    _one_reject(out, _sale_path(ctx), "parse", "broken embedded JSON")


def check_broken_api_json(out: Outcome, ctx: dict) -> None:
    """A navigation page that cannot be read: the lots behind it were never seen, so the night is not
    landed (no _SUCCESS, no half landing); the re-run, the site healthy again, lands every lot once."""
    assert isinstance(out.error, CrawlError) and "broken JSON" in out.error.stderr_tail
    folder = out.settings.raw_path(out.source, RUN_DATE)
    assert not (folder / "_SUCCESS").exists() and not (folder / "lots.jsonl").exists()
    with out.site:
        again = run_crawl(
            out.case.spider,
            out.house,
            out.site.base_url,
            RUN_DATE,
            out.settings,
            timeout_s=60,
            spider_args={"page_size": API_PAGE},
            scrapy_settings=FAST,
        )
    assert not again.skipped and again.n_rejected == 0
    refs = out.landed_refs()
    assert sorted(refs) == sorted(_all_refs(out))


def check_redirect_loop(out: Outcome, ctx: dict) -> None:
    _lands_without(out, _sale_refs(out, ctx["sale"]))
    _one_reject(out, _sale_path(ctx), "fetch", "redirect loop")


def check_redirect_chain(out: Outcome, ctx: dict) -> None:
    _lands_without(out, _sale_refs(out, ctx["sale"]))
    _one_reject(out, _sale_path(ctx), "fetch", "max redirections")
    assert len(out.paths(_sale_path(ctx))) == 1 + FAST["REDIRECT_MAX_TIMES"]


def check_robots_disallow(out: Outcome, ctx: dict) -> None:
    _lands_without(out, _sale_refs(out, ctx["sale"]))
    assert out.paths(_sale_path(ctx)) == []  # never fetched
    assert out.paths("/private/") == [] and out.paths("/admin/") == []
    assert out.rejects() == []  # skipped on purpose, not a failure


def check_offsite_link_other_host(out: Outcome, ctx: dict) -> None:
    _lands_without(out, set())


def check_offsite_link_same_host_other_port(out: Outcome, ctx: dict) -> None:
    _lands_without(out, set())


def check_offsite_redirect(out: Outcome, ctx: dict) -> None:
    _lands_without(out, _sale_refs(out, ctx["sale"]))
    _one_reject(out, _sale_path(ctx), "fetch", "redirected off-site")


def check_offsite_redirect_of_start_page(out: Outcome, ctx: dict) -> None:
    """The start page (``dont_filter=True``, which Scrapy's OffsiteMiddleware lets through) redirects to
    another host: not followed, recorded, the night not landed."""
    assert isinstance(out.error, CrawlError) and "redirected off-site" in out.error.stderr_tail
    assert not (out.settings.raw_path(out.source, RUN_DATE) / "_SUCCESS").exists()


CHECKS = {name.removeprefix("check_"): fn for name, fn in globals().items() if name.startswith("check_")}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_fault(case, outcomes, ctx):
    out = outcomes[case.name]
    CHECKS[case.name](out, ctx)
    # whatever the fault: nothing sent off-site (not even for robots.txt), nothing robots.txt forbids
    assert out.elsewhere_requests == []
    assert out.paths("/private/") == [] and out.paths("/admin/") == []


def test_every_case_has_a_check():
    assert set(CHECKS) == {c.name for c in CASES}


# ---- what could not be fetched is picked up; what landed is kept --------------------------------------------
def _sha(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_a_page_that_failed_tonight_lands_the_next_night_and_tonight_is_kept(world, ctx, gbv_home):
    sale_path = _sale_path(ctx)
    kw = {"sales_per_page": SALES_PER_PAGE}
    with DemoSite(world, faults={sale_path: "500"}, **kw) as site:
        tonight = run_crawl(
            "demo_html", "harrington", site.base_url, RUN_DATE, gbv_home, timeout_s=60, scrapy_settings=FAST
        )
        missing = {str(r["lot_ref"]) for r in site.catalogue.lots_by_sale[ctx["sale"]]}
        shown = set(site.catalogue.shown_lot_refs("harrington"))
    rejects = read_rejects("demo_harrington", RUN_DATE, gbv_home)
    assert [r["url"].endswith(sale_path) for r in rejects] == [True] and rejects[0]["reason"] == "HTTP 500"
    assert {lot_ref(r) for r in read_landed("demo_harrington", RUN_DATE, gbv_home)} == shown - missing
    before = _sha(tonight.path)
    with DemoSite(world, **kw) as site:  # the next night: the site is healthy again
        nxt = run_crawl(
            "demo_html", "harrington", site.base_url, NEXT_NIGHT, gbv_home, timeout_s=60, scrapy_settings=FAST
        )
        again = run_crawl(  # tonight's landing is never crawled or written again
            "demo_html", "harrington", site.base_url, RUN_DATE, gbv_home, timeout_s=60, scrapy_settings=FAST
        )
    assert nxt.n_rejected == 0 and again.skipped
    assert {lot_ref(r) for r in read_landed("demo_harrington", NEXT_NIGHT, gbv_home)} == shown
    assert _sha(tonight.path) == before  # nothing already landed is lost or changed


def test_a_navigation_page_that_keeps_resetting_fails_the_night_and_the_rerun_lands_everything(
    world, gbv_home
):
    page2 = "/harrington/sales/?page=2"
    with DemoSite(world, sales_per_page=SALES_PER_PAGE, faults={page2: ["reset"] * 4}) as site:
        with pytest.raises(CrawlError, match="exit status 1") as err:
            run_crawl(
                "demo_html",
                "harrington",
                site.base_url,
                RUN_DATE,
                gbv_home,
                timeout_s=60,
                scrapy_settings=FAST,
            )
        assert "not landed" in err.value.stderr_tail and page2 in err.value.stderr_tail
        folder = gbv_home.raw_path("demo_harrington", RUN_DATE)
        assert not (folder / "_SUCCESS").exists()
        assert (folder / "lots.jsonl.part").stat().st_size > 0  # page 1's sales were fetched, kept as a part
        result = run_crawl(
            "demo_html", "harrington", site.base_url, RUN_DATE, gbv_home, timeout_s=60, scrapy_settings=FAST
        )
        refs = [lot_ref(r) for r in read_landed("demo_harrington", RUN_DATE, gbv_home)]
        assert sorted(refs) == sorted(site.catalogue.shown_lot_refs("harrington"))
    assert result.n_rejected == 0 and not result.skipped
