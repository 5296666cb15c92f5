"""Screenshots, in headless Chromium, of the nightly report's market section and of one mart's dbt docs page.

``gbv screenshots --home GBV_HOME --out DIR`` writes ``report-market.png`` (the ``<section id="market">`` of the
night's report, rendered on its own page with the report's styles) and ``dbt-docs-<mart>.png`` (the static dbt
docs site at ``#!/model/model.gbv_marts.<mart>``). Both come from a night already run in that ``GBV_HOME`` (e.g.
``gbv demo``). Chromium is looked up as ``$GBV_CHROMIUM``, ``chromium`` or ``chromium-browser``; it is not a
dependency of the nightly system, only of this command.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

DBT_PROJECT_NAME = "gbv_marts"  # warehouse/dbt/dbt_project.yml
WINDOW = (1400, 2000)
SECTION = re.compile(r'<section id="market">.*?</section>', re.S)
HEAD = re.compile(r"<head>.*?</head>", re.S)


class ScreenshotError(RuntimeError):
    pass


def find_chromium() -> str:
    for name in (os.environ.get("GBV_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and (path := shutil.which(name)):
            return path
    raise ScreenshotError("no Chromium found (set GBV_CHROMIUM or install the Debian package `chromium`)")


def screenshot(url: str, out: Path, *, chromium: str | None = None, window: tuple[int, int] = WINDOW,
               budget_ms: int = 15000, trim: bool = True) -> Path:
    """Full-window PNG of ``url`` (file:// URLs; the page's JavaScript runs within a virtual-time budget);
    the blank bottom of the page is trimmed off."""
    chromium = chromium or find_chromium()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp.png")
    with tempfile.TemporaryDirectory(prefix="gbv-chromium-") as profile:
        cmd = [chromium, "--headless=new", "--disable-gpu", "--no-sandbox", "--hide-scrollbars",
               "--no-first-run", "--disable-extensions", f"--user-data-dir={profile}",
               "--allow-file-access-from-files", "--run-all-compositor-stages-before-draw",
               f"--virtual-time-budget={budget_ms}", f"--window-size={window[0]},{window[1]}",
               f"--screenshot={tmp}", url]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False)
    if proc.returncode != 0 or not tmp.exists() or tmp.stat().st_size == 0:
        tmp.unlink(missing_ok=True)
        raise ScreenshotError(f"chromium failed on {url} (exit {proc.returncode}): {proc.stderr.strip()[-800:]}")
    if trim:
        _trim_bottom(tmp)
    os.replace(tmp, out)
    return out


def _trim_bottom(path: Path, margin: int = 24) -> None:
    """Cut the uniform background below the last drawn row (the window is taller than most pages)."""
    from PIL import Image, ImageChops

    with Image.open(path) as im:
        rgb = im.convert("RGB")
        bg = Image.new("RGB", rgb.size, rgb.getpixel((rgb.width - 1, rgb.height - 1)))
        box = ImageChops.difference(rgb, bg).getbbox()
        if box is None:
            return
        bottom = min(rgb.height, box[3] + margin)
        if bottom < rgb.height:
            rgb.crop((0, 0, rgb.width, bottom)).save(path, optimize=True)


def market_page(report: Path, dest: Path) -> Path:
    """The report's market section on a page of its own (the report's ``<head>``, so its styles)."""
    text = report.read_text(encoding="utf-8")
    section = SECTION.search(text)
    if section is None:
        raise ScreenshotError(f"{report} has no market section (<section id=\"market\">): a report from before "
                              f"the market section? run the night again")
    head = HEAD.search(text)
    dest.write_text(f"<!doctype html><html>{head.group(0) if head else '<head></head>'}<body>"
                    f"{section.group(0)}</body></html>", encoding="utf-8")
    return dest


def take_screenshots(home: Path, out: Path, *, run_date: str | None = None, mart: str = "mart_price_index",
                     chromium: str | None = None) -> dict[str, Path]:
    chromium = chromium or find_chromium()
    report = home / "reports" / (f"{run_date}.html" if run_date else "latest.html")
    docs = home / "dbt_docs" / "index.html"
    for need, how in ((report, "run a night (gbv demo / gbv nightly)"), (docs, "build the marts' docs")):
        if not need.exists():
            raise ScreenshotError(f"{need} does not exist: {how} in GBV_HOME={home} first")
    if not re.fullmatch(r"mart_\w+", mart):
        raise ScreenshotError(f"not a mart name: {mart!r}")
    shots = {}
    with tempfile.TemporaryDirectory(prefix="gbv-shots-") as tmp:
        page = market_page(report, Path(tmp) / "market.html")
        shots["report_market"] = screenshot(page.resolve().as_uri(), out / "report-market.png", chromium=chromium)
    url = f"{docs.resolve().as_uri()}#!/model/model.{DBT_PROJECT_NAME}.{mart}"
    shots["dbt_docs"] = screenshot(url, out / f"dbt-docs-{mart}.png", chromium=chromium)
    return shots


def cmd_screenshots(args: argparse.Namespace) -> int:
    from gbv.settings import get_settings

    home = Path(args.home) if args.home else get_settings().home
    shots = take_screenshots(home, Path(args.out), run_date=args.date, mart=args.mart)
    for name, path in shots.items():
        print(f"{name}: {path}")
    return 0


def register(subparsers) -> None:  # noqa: ANN001
    p = subparsers.add_parser("screenshots", help="PNGs (headless Chromium) of the report's market section and "
                                                  "of a mart's dbt docs page")
    p.add_argument("--home", help="GBV_HOME of a night already run (default: GBV_HOME)")
    p.add_argument("--out", required=True, help="folder for report-market.png and dbt-docs-<mart>.png")
    p.add_argument("--date", help="the night's report (default: reports/latest.html)")
    p.add_argument("--mart", default="mart_price_index", help="mart whose dbt docs page to take")
    p.set_defaults(func=cmd_screenshots)
