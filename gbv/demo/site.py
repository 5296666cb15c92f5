"""The demo auction website: four houses' catalogues served from the demo world, for the crawlers to crawl.

Two site formats, as real houses have them:

* ``html`` houses (harrington, lotus): a paginated sale index ``/<house>/sales/?page=N`` linking to one page per
  sale, ``/<house>/sale/<sale_id>``, which shows the lots as markup and carries them as JSON in
  ``<script type="application/json" id="lot-data">``. Dates read "14 March 2024", sizes in cm, prices are hammer
  numbers.
* ``api`` houses (delacroix, kestrel): a paginated JSON API ``/api/<house>/lots?page=N&page_size=100`` answering
  ``{"count", "next", "results"}`` with the house's own field names; money as strings ("€12,500"), prices
  include the buyer's premium, sizes in inches with fractions, artist life dates only as "(French, 1901-1975)".

Everything served is a pure function of (world, as_of): sales before ``as_of`` show results, sales on or after it
are forthcoming catalogues without prices. ``/robots.txt`` allows the catalogues and disallows ``/private/`` and
``/admin/``; pages link to both (and to an off-site partner), so tests can show a polite crawler never goes there.

Fault hooks for tests: ``broken_sales`` (sale ids whose embedded JSON is cut short), ``fail_first`` (path with
query -> number of 429 answers before the real one), ``delay_s`` (seconds to sleep before each answer),
``robots_disallow`` (extra ``Disallow:`` paths), ``partner_url`` (where the off-site partner link points) and
``faults`` (path with query -> a fault for every request, or a list of faults used up one per request, then
normal answers). A fault is one of ``FAULT_KINDS``:

* ``"500"``, ``"503"``, ``"429"`` ... an HTTP status; ``"429:2"`` adds ``Retry-After: 2`` (any header text);
* ``"timeout"``: no answer for ``fault_sleep_s`` seconds, then the connection is closed;
* ``"reset"``: the connection is reset (TCP RST) before any answer;
* ``"truncate"``: ``Content-Length`` announces the whole body, half of it is sent, the connection closes;
* ``"bad_json"``: the page's JSON (a sale page's embedded lot data, or an API answer) is cut in half, with a
  correct ``Content-Length``;
* ``"redirect_loop"``: 302 to itself; ``"redirect_chain"``: 302 to itself with ``hop=N+1`` for ever;
  ``"redirect:<url>"``: 302 to ``<url>`` (e.g. another host).
``render(path)`` gives any page without a server (absolute links then use ``offline_base_url``).

Run it by hand::

    python -m gbv.demo.site --lots 3000 --seed 7 --as-of 2026-10-01
"""

from __future__ import annotations

import argparse
import datetime as dt
import html
import json
import logging
import math
import socket
import struct
import threading
import time
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

import pandas as pd

from gbv.normalize.premium import premium_inclusive

log = logging.getLogger(__name__)

CURRENCY_SYMBOLS = {
    "USD": "$",
    "GBP": "£",
    "EUR": "€",
    "HKD": "HK$",
    "CHF": "CHF ",
    "JPY": "¥",
    "CNY": "CN¥",
    "KRW": "₩",
}
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

HTML_STATUS = {"sold": "SOLD", "bought_in": "UNSOLD", "upcoming": "FORTHCOMING", "withdrawn": "WITHDRAWN"}
API_STATUS = {"sold": "sold", "bought_in": "passed", "upcoming": "open", "withdrawn": "withdrawn"}
HTML_SIGNATURE = {
    "signed": "signed",
    "signed_and_dated": "signed and dated",
    "monogrammed": "monogrammed",
    "unsigned": "unsigned",
}

ROBOTS_TXT = """\
User-agent: *
Disallow: /private/
Disallow: /admin/
Allow: /api/
Allow: /

"""

FAULT_KINDS = (
    "<status>[:<Retry-After>]",
    "timeout",
    "reset",
    "truncate",
    "bad_json",
    "redirect_loop",
    "redirect_chain",
    "redirect:<url>",
)

PRIVATE_PATH = "/private/bidder-registry"
ADMIN_PATH = "/admin/"
PARTNER_URL = "http://partner-sales.example.invalid/catalogue"


# ---- formatting: how the demo houses write things (pure functions, used by the tests too) ----------------
def _missing(x: Any) -> bool:
    if x is None:
        return True
    try:
        return bool(pd.isna(x))
    except (TypeError, ValueError):
        return False


def _text(x: Any) -> str | None:
    return None if _missing(x) else str(x)


def json_number(x: Any) -> int | float | None:
    """A number as a JSON value: whole floats become ints, NaN becomes null."""
    if _missing(x):
        return None
    f = float(x)
    return int(f) if f.is_integer() else f


def json_int(x: Any) -> int | None:
    return None if _missing(x) else int(x)


def as_date(x: Any) -> dt.date:
    if isinstance(x, dt.datetime):
        return x.date()
    if isinstance(x, dt.date):
        return x
    return pd.Timestamp(x).date()


def long_date(d: dt.date) -> str:
    """``14 March 2024`` (html houses)."""
    return f"{d.day} {MONTHS[d.month - 1]} {d.year}"


def iso_timestamp(d: dt.date) -> str:
    """``2024-03-14T19:00:00Z`` (api houses: evening sales)."""
    return f"{d.isoformat()}T19:00:00Z"


def format_money(amount: Any, currency: str) -> str | None:
    """``€12,500`` / ``$12,500`` / ``HK$12,500`` (whole units, rounded half up)."""
    if _missing(amount):
        return None
    symbol = CURRENCY_SYMBOLS.get(currency, f"{currency} ")
    return f"{symbol}{math.floor(float(amount) + 0.5):,}"


def cm_number(x: float) -> str:
    """65.5 -> ``65.5``, 81.0 -> ``81`` (one decimal at most)."""
    return f"{round(float(x), 1):.1f}".removesuffix(".0")


def inch_number(cm: float) -> str:
    """Centimetres as inches to the nearest eighth: 65.4 -> ``25 3/4``, 81.0 -> ``31 7/8``, 2.54 -> ``1``."""
    eighths = int(math.floor(float(cm) / 2.54 * 8 + 0.5))
    whole, rest = divmod(eighths, 8)
    if rest == 0:
        return str(whole)
    g = math.gcd(rest, 8)
    frac = f"{rest // g}/{8 // g}"
    return frac if whole == 0 else f"{whole} {frac}"


def _dims(h: Any, w: Any, d: Any) -> list[float] | None:
    if _missing(h) or _missing(w):
        return None
    dims = [float(h), float(w)]
    if not _missing(d) and float(d) > 0:
        dims.append(float(d))
    return dims


def dimensions_cm_text(h: Any, w: Any, d: Any) -> str | None:
    """``65.5 x 81 cm`` or ``65.5 x 81 x 20 cm``."""
    dims = _dims(h, w, d)
    return None if dims is None else " x ".join(cm_number(x) for x in dims) + " cm"


def dimensions_in_text(h: Any, w: Any, d: Any) -> str | None:
    """``25 3/4 x 31 7/8 in.`` or ``25 3/4 x 31 7/8 x 8 in.``."""
    dims = _dims(h, w, d)
    return None if dims is None else " x ".join(inch_number(x) for x in dims) + " in."


def created_text(year: Any, lot_ref: str) -> str | None:
    """How the catalogue writes the date of a work, chosen deterministically from the lot ref.

    Mostly ``1965``; about one in five ``c. 1965``; about one in ten a span ``1965-67`` (first year = the work's
    year).
    """
    if _missing(year):
        return None
    y = int(year)
    k = zlib.crc32(lot_ref.encode("utf-8")) % 10
    if k in (7, 8):
        return f"c. {y}"
    if k == 9:
        return f"{y}-{(y + 2) % 100:02d}"
    return str(y)


def artist_dates(nationality: Any, birth: Any, death: Any) -> str | None:
    """``(French, 1901-1975)`` / ``(American, b. 1962)`` / ``(b. 1962)``."""
    parts = []
    if not _missing(nationality):
        parts.append(str(nationality))
    if not _missing(birth):
        parts.append(f"{int(birth)}-{int(death)}" if not _missing(death) else f"b. {int(birth)}")
    return f"({', '.join(parts)})" if parts else None


def api_signature(signature: Any, year: Any) -> str | None:
    """``Signed lower right`` / ``Signed and dated 1965`` / ``Monogrammed`` / ``Unsigned``."""
    if _missing(signature):
        return None
    if signature == "signed":
        return "Signed lower right"
    if signature == "signed_and_dated":
        return f"Signed and dated {int(year)}" if not _missing(year) else "Signed and dated"
    if signature == "monogrammed":
        return "Monogrammed"
    if signature == "unsigned":
        return "Unsigned"
    return None


def html_signature(signature: Any) -> str | None:
    return None if _missing(signature) else HTML_SIGNATURE.get(str(signature))


def script_json(obj: Any) -> str:
    """JSON safe to embed in a ``<script>`` element."""
    return json.dumps(obj, ensure_ascii=False, indent=1).replace("</", "<\\/")


# ---- the catalogue model ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class HouseInfo:
    house: str
    auction_house: str
    city: str
    currency: str
    site_format: str  # "html" | "api"
    price_basis: str  # "hammer" | "premium"


@dataclass(frozen=True)
class SaleInfo:
    sale_id: str
    house: str
    title: str
    date: dt.date
    location: str
    currency: str


class _Records(Sequence):
    """Rows ``start:stop`` of a frame as ``to_dict("records")`` dicts, built when read (a read-only list)."""

    _BATCH = 1000

    def __init__(self, frame: pd.DataFrame, start: int, stop: int):
        self._frame, self._start, self._stop = frame, start, stop

    def __len__(self) -> int:
        return self._stop - self._start

    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            a, b, step = i.indices(len(self))
            recs = self._frame.iloc[self._start + a:self._start + b].to_dict("records") if b > a else []
            return recs if step == 1 else recs[::step]
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("record index out of range")
        return self._frame.iloc[self._start + i:self._start + i + 1].to_dict("records")[0]

    def __iter__(self) -> Iterator[Mapping[str, Any]]:
        for a in range(0, len(self), self._BATCH):
            yield from self[a:a + self._BATCH]

    def __repr__(self) -> str:
        return f"<{len(self)} records>"


def _records(frame: pd.DataFrame, rows: Any) -> Sequence[Mapping[str, Any]]:
    """The records of ``frame``'s rows ``rows`` (ascending positions): lazy when contiguous, else a list."""
    if len(rows) == 0:
        return _Records(frame, 0, 0)
    first, last = int(rows[0]), int(rows[-1])
    if last - first + 1 == len(rows):
        return _Records(frame, first, last + 1)
    return frame.iloc[list(rows)].to_dict("records")


class DemoCatalogue:
    """What the site shows, computed once from (world, as_of)."""

    def __init__(self, world: Any, as_of: dt.date | str | None = None):
        self.as_of = as_of_date = as_date(as_of if as_of is not None else world.as_of)
        self.houses: dict[str, HouseInfo] = {}
        for r in world.houses.itertuples(index=False):
            self.houses[r.house] = HouseInfo(
                r.house, r.auction_house, r.city, r.currency, r.site_format, r.price_basis
            )
        sales = world.sales.copy()
        sales["sale_day"] = [as_date(d) for d in sales["sale_date"]]
        sales = sales.sort_values(["house", "sale_day", "sale_id"], ascending=[True, False, True])
        self.sales_by_house: dict[str, list[SaleInfo]] = {h: [] for h in self.houses}
        self.sales: dict[str, SaleInfo] = {}
        for r in sales.itertuples(index=False):
            if r.house not in self.houses:
                continue
            s = SaleInfo(
                str(r.sale_id),
                r.house,
                str(r.sale_title),
                r.sale_day,
                str(r.sale_location),
                str(r.sale_currency),
            )
            self.sales_by_house[r.house].append(s)
            self.sales[s.sale_id] = s

        lots = world.lots_as_of(as_of_date).copy()
        lots["sale_day"] = [as_date(d) for d in lots["sale_date"]]
        lots = lots.sort_values(["house", "sale_day", "sale_id", "lot_number"]).reset_index(drop=True)
        self.lots = lots
        # a house's lots, and a sale's, are contiguous rows of the sorted frame: keep row ranges and build the
        # records a page shows when it is rendered (a million lots as dicts would take gigabytes)
        self.lots_by_sale: dict[str, Sequence[Mapping[str, Any]]] = {
            str(sale_id): _records(lots, rows) for sale_id, rows in lots.groupby("sale_id", sort=False).indices.items()
        }
        by_house = lots.groupby("house", sort=False).indices
        self.lots_by_house: dict[str, Sequence[Mapping[str, Any]]] = {
            h: _records(lots, by_house.get(h, [])) for h in self.houses
        }

    def shown_lot_refs(self, house: str | None = None) -> list[str]:
        """Every lot ref the site shows (for one house, or all)."""
        houses = [house] if house else list(self.houses)
        return [str(rec["lot_ref"]) for h in houses for rec in self.lots_by_house.get(h, [])]

    def price_shown(self, rec: Mapping[str, Any]) -> float | None:
        """The realised price as the house publishes it (hammer, or premium-inclusive), before formatting."""
        if rec.get("status") != "sold" or _missing(rec.get("hammer_price")):
            return None
        house = self.houses[rec["house"]]
        hammer = float(rec["hammer_price"])
        if house.price_basis == "premium":
            return premium_inclusive(hammer, house.house, as_date(rec["sale_date"]))
        return hammer

    # -- html houses --
    def html_lot(self, rec: Mapping[str, Any]) -> dict[str, Any]:
        price = self.price_shown(rec)
        return {
            "lot_number": json_int(rec["lot_number"]),
            "artist_name": _text(rec.get("artist_name")),
            "artist_birth_year": json_int(rec.get("artist_birth_year")),
            "artist_death_year": json_int(rec.get("artist_death_year")),
            "artist_nationality": _text(rec.get("artist_nationality")),
            "title": _text(rec.get("title")),
            "medium": _text(rec.get("medium")),
            "created_text": created_text(rec.get("year_created"), str(rec["lot_ref"])),
            "dimensions_text": dimensions_cm_text(
                rec.get("height_cm"), rec.get("width_cm"), rec.get("depth_cm")
            ),
            "signature": html_signature(rec.get("signature")),
            "description": _text(rec.get("description")),
            "edition": _text(rec.get("edition")),
            "image_url": _text(rec.get("image_url")),
            "estimate_low": json_number(rec.get("estimate_low")),
            "estimate_high": json_number(rec.get("estimate_high")),
            "price": json_number(price),
            "price_basis": "hammer",
            "status": HTML_STATUS.get(str(rec.get("status")), str(rec.get("status")).upper()),
        }

    def html_sale_data(self, sale: SaleInfo) -> dict[str, Any]:
        house = self.houses[sale.house]
        return {
            "house": {"slug": house.house, "name": house.auction_house},
            "sale": {
                "id": sale.sale_id,
                "title": sale.title,
                "date": long_date(sale.date),
                "location": sale.location,
                "currency": sale.currency,
            },
            "lots": [self.html_lot(rec) for rec in self.lots_by_sale.get(sale.sale_id, [])],
        }

    # -- api houses --
    def api_lot(self, rec: Mapping[str, Any]) -> dict[str, Any]:
        sale = self.sales.get(str(rec["sale_id"]))
        currency = str(rec.get("sale_currency") or (sale.currency if sale else ""))
        house = self.houses[rec["house"]]
        sale_date = as_date(rec["sale_date"])
        year = rec.get("year_created")
        return {
            "lotId": str(rec["lot_ref"]),
            "lotNumber": f"{int(rec['lot_number']):04d}",
            "auctionHouse": house.auction_house,
            "sale": {
                "saleId": str(rec["sale_id"]),
                "title": _text(rec.get("sale_title")) or (sale.title if sale else None),
                "startsAt": iso_timestamp(sale_date),
                "location": _text(rec.get("sale_location")) or (sale.location if sale else None),
                "currency": currency,
            },
            "artistName": _text(rec.get("artist_name")),
            "artist_dates": artist_dates(
                rec.get("artist_nationality"), rec.get("artist_birth_year"), rec.get("artist_death_year")
            ),
            "title": _text(rec.get("title")),
            "medium": _text(rec.get("medium")),
            "dateText": created_text(year, str(rec["lot_ref"])),
            "dimensions": dimensions_in_text(rec.get("height_cm"), rec.get("width_cm"), rec.get("depth_cm")),
            "signature": api_signature(rec.get("signature"), year),
            "description": _text(rec.get("description")),
            "edition": _text(rec.get("edition")),
            "imageUrl": _text(rec.get("image_url")),
            "estimateLow": format_money(rec.get("estimate_low"), currency),
            "estimateHigh": format_money(rec.get("estimate_high"), currency),
            "priceRealised": format_money(self.price_shown(rec), currency),
            "status": API_STATUS.get(str(rec.get("status")), str(rec.get("status"))),
        }


def _break_json(body: str, ctype: str) -> str:
    """The page with its JSON cut in half: a sale page's embedded lot data, or a whole JSON answer."""
    if ctype == "application/json":
        return body[: max(1, len(body) // 2)]
    start = body.find('id="lot-data">')
    end = body.find("</script>", start)
    if start < 0 or end < 0:
        return body
    start += len('id="lot-data">')
    payload = body[start:end]
    return body[:start] + payload[: max(1, len(payload) // 2)] + body[end:]


# ---- rendering -----------------------------------------------------------------------------------------
def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head>\n<body>\n"
        f'<header><a href="/">Demo auctions</a> | <a href="{ADMIN_PATH}">Staff login</a></header>\n'
        f"<main>\n{body}\n</main>\n"
        f'<footer><a href="{PRIVATE_PATH}" class="private">Bidder registry (registered clients)</a></footer>\n'
        "</body>\n</html>\n"
    )


def _lot_markup(lot: Mapping[str, Any], currency: str) -> str:
    e = html.escape

    def t(x: Any) -> str:
        return e("" if x is None else str(x))

    price = lot["price"]
    result = (
        f"Sold for {e(format_money(price, currency) or '')}"
        if price is not None
        else t(lot["status"]).title()
    )
    return (
        f'<article class="lot" data-lot-number="{t(lot["lot_number"])}">\n'
        f' <h3><span class="lot-number">{t(lot["lot_number"])}</span> '
        f'<span class="artist">{t(lot["artist_name"])}</span></h3>\n'
        f' <p class="title"><em>{t(lot["title"])}</em>, <span class="created">{t(lot["created_text"])}</span></p>\n'
        f' <p class="medium">{t(lot["medium"])}</p>\n'
        f' <p class="dimensions">{t(lot["dimensions_text"])}</p>\n'
        f' <p class="signature">{t(lot["signature"])}</p>\n'
        f' <p class="estimate">Estimate {t(format_money(lot["estimate_low"], currency))} - '
        f"{t(format_money(lot['estimate_high'], currency))}</p>\n"
        f' <p class="result">{result}</p>\n'
        "</article>"
    )


class DemoSite:
    """The demo auction website on 127.0.0.1 (random free port), served from a background thread.

    ``with DemoSite(world) as site: ... site.base_url ...``. ``site.requests`` logs every request received
    (method, path, user agent, status) so tests can check what a crawler fetched.
    """

    def __init__(
        self,
        world: Any,
        as_of: dt.date | str | None = None,
        *,
        sales_per_page: int = 10,
        max_page_size: int = 100,
        broken_sales: Iterable[str] = (),
        fail_first: Mapping[str, int] | None = None,
        delay_s: float = 0.0,
        offline_base_url: str = "http://demo-auctions.test",
        host: str = "127.0.0.1",
        port: int = 0,
        faults: Mapping[str, str | Iterable[str]] | None = None,
        fault_sleep_s: float = 3.0,
        robots_disallow: Iterable[str] = (),
        partner_url: str | None = None,
    ):
        self.catalogue = DemoCatalogue(world, as_of)
        self.as_of = self.catalogue.as_of
        self.sales_per_page = int(sales_per_page)
        self.max_page_size = int(max_page_size)
        self.broken_sales = frozenset(str(s) for s in broken_sales)
        self._fail_left = dict(fail_first or {})
        self.delay_s = float(delay_s)
        self._faults: dict[str, str | list[str]] = {}
        for path, fault in (faults or {}).items():
            self._faults[path] = fault if isinstance(fault, str) else list(fault)
        self.fault_sleep_s = float(fault_sleep_s)
        self.robots_txt = ROBOTS_TXT.replace(
            "Allow: /api/", "".join(f"Disallow: {p}\n" for p in robots_disallow) + "Allow: /api/"
        )
        self.partner_url = partner_url or PARTNER_URL
        self.offline_base_url = offline_base_url.rstrip("/")
        self.host = host
        self.port = port
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --
    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("DemoSite is not started")
        return f"http://{self.host}:{self._server.server_address[1]}"

    def start(self) -> DemoSite:
        if self._server is not None:
            return self
        site = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "DemoAuctions/1.0"

            def do_GET(self) -> None:  # noqa: N802 (stdlib name)
                site._handle(self)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                log.debug("demo site: " + format, *args)

            def finish(self) -> None:
                try:
                    super().finish()
                except (OSError, ValueError):  # a fault hook closed or reset the connection
                    pass

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="gbv-demo-site",
            daemon=True,
        )
        self._thread.start()
        log.info("demo site serving %s (as of %s)", self.base_url, self.as_of)
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> DemoSite:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def requested_paths(self) -> list[str]:
        with self._lock:
            return [r["path"] for r in self.requests]

    # -- URLs (absolute: the served address once started, ``offline_base_url`` for offline rendering) --
    @property
    def url_root(self) -> str:
        return self.base_url if self._server is not None else self.offline_base_url

    def sale_index_url(self, house: str, page: int = 1) -> str:
        return f"{self.url_root}/{house}/sales/?page={page}"

    def sale_url(self, house: str, sale_id: str) -> str:
        return f"{self.url_root}/{house}/sale/{sale_id}"

    def api_url(self, house: str, page: int = 1, page_size: int = 100) -> str:
        return f"{self.url_root}/api/{house}/lots?page={page}&page_size={page_size}"

    # -- request handling --
    def _next_fault(self, path: str) -> str | None:
        """The fault for this request of ``path`` (under the lock), if any."""
        parts = urlsplit(path)
        query = parse_qsl(parts.query, keep_blank_values=True)
        if any(k == "hop" for k, _ in query):  # a redirect chain goes on for ever
            return "redirect_chain"
        fault = self._faults.get(path)
        if isinstance(fault, list):
            return fault.pop(0) if fault else None
        return fault

    def _log_request(self, req: BaseHTTPRequestHandler, status: int | str) -> None:
        with self._lock:
            self.requests.append(
                {
                    "time": time.time(),
                    "method": req.command,
                    "path": req.path,
                    "user_agent": req.headers.get("User-Agent", ""),
                    "status": status,
                }
            )

    def _serve_fault(self, req: BaseHTTPRequestHandler, fault: str) -> bool:
        """Answer with ``fault``; False when the fault only changes the page (``bad_json``)."""
        path = req.path
        kind, _, arg = fault.partition(":")
        if kind.isdigit():
            headers = {"Retry-After": arg} if arg else {}
            self._log_request(req, int(kind))
            self._send(req, int(kind), "text/plain", f"fault {fault}\n", headers)
        elif kind == "timeout":
            self._log_request(req, "timeout")
            time.sleep(self.fault_sleep_s)
            req.close_connection = True
        elif kind == "reset":
            self._log_request(req, "reset")
            req.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            req.close_connection = True
            req.connection.close()
        elif kind == "truncate":
            status, ctype, body = self.render(path)
            data = body.encode("utf-8")
            self._log_request(req, "truncate")
            req.send_response(status)
            req.send_header("Content-Type", f"{ctype}; charset=utf-8")
            req.send_header("Content-Length", str(len(data)))
            req.end_headers()
            req.wfile.write(data[: len(data) // 2])
            req.wfile.flush()
            req.close_connection = True
        elif kind in ("redirect_loop", "redirect_chain", "redirect"):
            if kind == "redirect":
                location = arg
            elif kind == "redirect_loop":
                location = path
            else:
                parts = urlsplit(path)
                query = parse_qsl(parts.query, keep_blank_values=True)
                hop = next((int(v) for k, v in query if k == "hop" and v.isdigit()), 0)
                query = [(k, v) for k, v in query if k != "hop"] + [("hop", str(hop + 1))]
                location = f"{parts.path}?{urlencode(query)}"
            self._log_request(req, 302)
            self._send(req, 302, "text/plain", f"moved to {location}\n", {"Location": location})
        elif kind == "bad_json":
            return False
        else:
            raise ValueError(f"unknown demo site fault {fault!r}; known: {FAULT_KINDS}")
        return True

    @staticmethod
    def _send(
        req: BaseHTTPRequestHandler, status: int, ctype: str, body: str, headers: Mapping[str, str]
    ) -> None:
        data = body.encode("utf-8")
        req.send_response(status)
        req.send_header("Content-Type", f"{ctype}; charset=utf-8")
        req.send_header("Content-Length", str(len(data)))
        for k, v in headers.items():
            req.send_header(k, v)
        req.end_headers()
        req.wfile.write(data)

    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        path = req.path
        with self._lock:
            fail = self._fail_left.get(path, 0)
            if fail > 0:
                self._fail_left[path] = fail - 1
            fault = self._next_fault(path) if fail <= 0 else None
        if self.delay_s > 0 and req.path != "/robots.txt":
            time.sleep(self.delay_s)  # fault hook: a slow site
        if fault is not None:
            try:
                if self._serve_fault(req, fault):
                    return
            except OSError:  # the client went away (it timed out first): nothing left to do
                return
        if fail > 0:
            status, ctype, body, headers = (
                429,
                "text/plain",
                "Too many requests, slow down\n",
                {"Retry-After": "0"},
            )
        else:
            try:
                status, ctype, body = self.render(path)
            except Exception:  # a bug in the demo site must not hang the crawler
                log.exception("demo site failed to render %s", path)
                status, ctype, body = 500, "text/plain", "internal error\n"
            headers = {}
            if fault == "bad_json":
                body = _break_json(body, ctype)
        with self._lock:
            self.requests.append(
                {
                    "time": time.time(),
                    "method": req.command,
                    "path": path,
                    "user_agent": req.headers.get("User-Agent", ""),
                    "status": status,
                }
            )
        data = body.encode("utf-8")
        req.send_response(status)
        req.send_header("Content-Type", f"{ctype}; charset=utf-8")
        req.send_header("Content-Length", str(len(data)))
        for k, v in headers.items():
            req.send_header(k, v)
        req.end_headers()
        req.wfile.write(data)

    def render(self, path_and_query: str) -> tuple[int, str, str]:
        """(status, content type, body) for a path such as ``/harrington/sales/?page=2``; no network involved."""
        parts = urlsplit(path_and_query)
        query = parse_qs(parts.query)
        segs = [s for s in parts.path.split("/") if s]
        cat = self.catalogue
        if parts.path == "/robots.txt":
            return 200, "text/plain", self.robots_txt
        if not segs:
            return 200, "text/html", self._home()
        if segs[0] in ("private", "admin"):
            return 403, "text/html", _page("Forbidden", "<p>Registered clients only.</p>")
        if segs[0] == "api" and len(segs) == 3 and segs[2] == "lots":
            house = cat.houses.get(segs[1])
            if house is None or house.site_format != "api":
                return 404, "application/json", json.dumps({"detail": "Not found."})
            try:
                page = int(query.get("page", ["1"])[0])
                page_size = int(query.get("page_size", ["100"])[0])
            except ValueError:
                return 400, "application/json", json.dumps({"detail": "page and page_size must be integers"})
            return self._api_page(house.house, page, page_size)
        house = cat.houses.get(segs[0])
        if house is not None and house.site_format == "html":
            if len(segs) == 2 and segs[1] == "sales":
                try:
                    page = int(query.get("page", ["1"])[0])
                except ValueError:
                    return 400, "text/html", _page("Bad request", "<p>page must be an integer</p>")
                return self._sale_index(house.house, page)
            if len(segs) == 3 and segs[1] == "sale":
                sale = cat.sales.get(segs[2])
                if sale is not None and sale.house == house.house:
                    return 200, "text/html", self._sale_page(sale)
        return 404, "text/html", _page("Not found", "<p>No such page.</p>")

    def _home(self) -> str:
        items = []
        for h in self.catalogue.houses.values():
            href = (
                f"/api/{h.house}/lots?page=1&page_size=100"
                if h.site_format == "api"
                else f"/{h.house}/sales/?page=1"
            )
            items.append(
                f'<li><a href="{href}">{html.escape(h.auction_house)}</a> ({html.escape(h.city)})</li>'
            )
        return _page("Demo auctions", "<h1>Demo auctions</h1>\n<ul>\n" + "\n".join(items) + "\n</ul>")

    def _sale_index(self, house: str, page: int) -> tuple[int, str, str]:
        sales = self.catalogue.sales_by_house[house]
        n_pages = max(1, math.ceil(len(sales) / self.sales_per_page))
        if page < 1 or page > n_pages:
            return 404, "text/html", _page("Not found", "<p>No such page.</p>")
        chunk = sales[(page - 1) * self.sales_per_page : page * self.sales_per_page]
        name = self.catalogue.houses[house].auction_house
        rows = []
        for s in chunk:
            kind = "Results" if s.date < self.as_of else "Forthcoming"
            rows.append(
                f'<li class="sale"><a class="sale-link" href="/{house}/sale/{html.escape(s.sale_id)}">'
                f'{html.escape(s.title)}</a> <span class="date">{long_date(s.date)}</span> '
                f'<span class="location">{html.escape(s.location)}</span> <span class="kind">{kind}</span></li>'
            )
        if page == 1:  # links a polite, on-site crawler must not follow
            rows.append(
                f'<li class="sale private"><a class="sale-link" href="/private/{house}/sale/viewing-room">'
                "Private sales (registered clients)</a></li>"
            )
            rows.append(
                f'<li class="sale partner"><a class="sale-link" href="{html.escape(self.partner_url)}">'
                "Partner sale</a></li>"
            )
        nav = []
        if page > 1:
            nav.append(f'<a rel="prev" href="/{house}/sales/?page={page - 1}">Previous</a>')
        nav.append(f'<span class="page">Page {page} of {n_pages}</span>')
        if page < n_pages:
            nav.append(f'<a rel="next" href="/{house}/sales/?page={page + 1}">Next</a>')
        body = (
            f'<h1>{html.escape(name)}: auctions</h1>\n<ul class="sales">\n' + "\n".join(rows) + "\n</ul>\n"
            f'<nav class="pagination">{" ".join(nav)}</nav>'
        )
        return 200, "text/html", _page(f"{name} - auctions, page {page}", body)

    def _sale_page(self, sale: SaleInfo) -> str:
        data = self.catalogue.html_sale_data(sale)
        payload = script_json(data)
        if sale.sale_id in self.broken_sales:  # fault hook: the CMS cut the embedded JSON short
            payload = payload[: max(1, len(payload) // 2)]
        name = self.catalogue.houses[sale.house].auction_house
        lots = "\n".join(_lot_markup(lot, sale.currency) for lot in data["lots"])
        kind = "Results" if sale.date < self.as_of else "Forthcoming sale"
        body = (
            f'<h1 class="sale-title">{html.escape(sale.title)}</h1>\n'
            f'<p class="sale-meta">{html.escape(name)}, {html.escape(sale.location)}, {long_date(sale.date)} '
            f"({kind}; prices in {html.escape(sale.currency)})</p>\n"
            f'<p><a href="/{sale.house}/sales/?page=1">All auctions</a> | '
            f'<a href="{PRIVATE_PATH}?sale={html.escape(sale.sale_id)}">Register to bid</a></p>\n'
            f'<section class="lots">\n{lots}\n</section>\n'
            f'<script type="application/json" id="lot-data">{payload}</script>'
        )
        return _page(f"{sale.title} - {name}", body)

    def _api_page(self, house: str, page: int, page_size: int) -> tuple[int, str, str]:
        lots = self.catalogue.lots_by_house[house]
        page_size = max(1, min(page_size, self.max_page_size))
        n_pages = max(1, math.ceil(len(lots) / page_size))
        if page < 1 or page > n_pages:
            return 404, "application/json", json.dumps({"detail": "Invalid page."})
        chunk = lots[(page - 1) * page_size : page * page_size]
        nxt = self.api_url(house, page + 1, page_size) if page < n_pages else None
        prev = self.api_url(house, page - 1, page_size) if page > 1 else None
        body = {
            "count": len(lots),
            "next": nxt,
            "previous": prev,
            "results": [self.catalogue.api_lot(rec) for rec in chunk],
        }
        return 200, "application/json", json.dumps(body, ensure_ascii=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gbv.demo.site", description="Serve the demo auction website."
    )
    parser.add_argument("--lots", type=int, default=3000, help="lots in the demo world (default 3000)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--as-of", default=None, help="the site's today, YYYY-MM-DD (default: the world's as_of)"
    )
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    from gbv.demo.world import generate_world

    world = generate_world(n_lots=args.lots, seed=args.seed)
    as_of = dt.date.fromisoformat(args.as_of) if args.as_of else None
    with DemoSite(world, as_of, port=args.port) as site:
        print(f"demo auction site at {site.base_url}/  (as of {site.as_of}; Ctrl-C to stop)", flush=True)
        for h in site.catalogue.houses.values():
            url = site.api_url(h.house) if h.site_format == "api" else site.sale_index_url(h.house)
            print(f"  {h.house:<12} {h.site_format:<5} {url}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("stopping", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
