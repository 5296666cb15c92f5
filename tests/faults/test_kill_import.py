"""kill -9 of `gbv import auto <folder>` at named points and at a seeded random moment, then the same command
again: the warehouse ends with exactly the rows of an uninterrupted import, and the landing zone stays
append-only (a killed landing leaves no half file under its final name; the re-run neither rewrites a landed file
nor lands a second copy of the same bytes).

The vendor files are small synthetic ones built with the importer tests' row builders (no ../shared data); the
subprocess is pointed at an empty folder for museum records, so it never reads ../shared either.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.faults

RUN_DATE = "2026-11-25"
TABLES = ("fact_lot", "dim_artist", "dim_artwork", "dim_sale", "lot_source", "quarantine", "stage_run")

# `gbv import ...` with gbv.identity's museum folder replaced by an empty one (argv[1]): no ../shared reads
_MAIN = ("import sys; from pathlib import Path; import gbv.identity as i; "
         "i.DEFAULT_SHARED_AUCTIONS = Path(sys.argv[1]); from gbv.cli import main; sys.exit(main(sys.argv[2:]))")


def _builders():
    path = Path(__file__).resolve().parents[1] / "importers" / "test_importers.py"
    spec = importlib.util.spec_from_file_location("_gbv_import_builders", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _vendor_files(d: Path) -> Path:
    """Five small files of three vendors: one lot reported by two sources, rows that go to quarantine."""
    b = _builders()
    (d / "ny").mkdir(parents=True)
    (d / "ar").mkdir()
    (d / "hk").mkdir()
    rock = "Christie's New York, Rockefeller Center"
    b.write(d / "ny" / "christies.csv", [  # no header, 15 fields by position
        b.ny_row("1", "Andy Warhol", '"$275,000"', house=rock),
        b.ny_row("2", "Alexander Sandy Calder", "-not sold-", house=rock),
        b.ny_row("3a", "PICASSO, Pablo", '"$62,500"', house=rock),
        b.ny_row("4", "", '"$1,000"', house=rock),  # no artist: quarantined
    ])
    b.write(d / "ny" / "sothebys.csv", [b.NY_HEADER,
        b.ny_row("10", "Andy Warhol", '"$31,250"', date="11/16/2016-11/17/2016"),  # = arthena lot 10
        b.ny_row("11", "Andy Warhol", "not communicated", date="11/16/2016-11/17/2016"),
        b.ny_row("14", "Sol LeWitt", "Not sold at auction.", date="11/16/2016-11/17/2016"),
    ])
    b.write(d / "ar" / "warhol.csv", [b.ARTHENA_HEADER,
        b.arthena_row("10", "25000", "6250"),
        b.arthena_row("20", "-1", "31251"),
        b.arthena_row("22", "40000", "10000", house="Christies", place="Paris", currency="GBP", rate="1.25",
                      date="2015-06-01T00:00:00"),
        b.arthena_row("23", "abc", "1"),  # unparsable hammer: quarantined
    ])
    b.write(d / "hk" / "HK_Christies_2016-2020.csv", [
        "\ufeffArtist,Title,Sales_Price_Dollar,Low_Estimate,High_estimate,Signature,Size,Edition,Foundry,Created,"
        "Medium_Clean,Medium,Auction_Lot,Auction_Date",
        'Wou-Ki Zao,Landscape,45900  ,38490,64150,Signed,"33.66"" x 16.93""                (85.50cm x 43.00cm)",,,'
        "1947,Painting,Oil / Canvas,1364,05/30/2017",
    ], eol="\n")
    b.write(d / "hk" / "HK_Sothebys_2016-2020.csv", [
        "\ufeffartist,title,online_dummy,sales_dollar,dummy_sold,low_estimate_dollar,high_estimate_dollar,signed,"
        "size_cm,edition,foundry,created,category,Medium,auction_lot,auction_date,auction_location",
        "Zao Wou-Ki,B,0,64050,1,19220,32030,Signed,27.10cm x 24.00cm,,,1978,Paintings,Oil / Canvas,102,11/24/18,"
        "Sotheby's Hong Kong",
    ], eol="\n")
    return d


def _start(home: Path, vendor: Path, no_museum: Path, kit, **env) -> subprocess.Popen:  # noqa: ANN001, ANN003
    return subprocess.Popen([sys.executable, "-c", _MAIN, str(no_museum), "import", "auto", str(vendor),
                             "--date", RUN_DATE], cwd=kit.REPO, env=kit.fault_env(home, "", **env), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def _import(home: Path, vendor: Path, no_museum: Path, kit, *, kill_after_s: float | None = None,  # noqa: ANN001
            **env):  # noqa: ANN003
    started = time.monotonic()
    proc = _start(home, vendor, no_museum, kit, **env)
    killed_by = ""
    if kill_after_s is not None:
        try:
            proc.wait(timeout=kill_after_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            killed_by = f"timer {kill_after_s:.2f}s"
    run = kit.finish(proc, ["import", "auto"], started, 120)
    run.killed_by = killed_by
    return run


def _landing(home: Path, *, visible_only: bool = False) -> dict[str, str]:
    """Every file under raw/ (hidden temporaries too, unless ``visible_only``) -> sha256 of its bytes."""
    out = {}
    for p in sorted((home / "raw").rglob("*")):
        if p.is_file() and not (visible_only and p.name.startswith(".")):
            out[str(p.relative_to(home))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _warehouse(home: Path, kit) -> tuple[dict[str, int], dict[str, str]]:  # noqa: ANN001
    state = kit.read_state(home)
    return ({t: state.counts[t] for t in TABLES}, {t: state.content[t] for t in TABLES})


@pytest.fixture(scope="module")
def import_world(tmp_path_factory, kit):
    """The vendor folder and one uninterrupted import of it: what every killed-then-rerun import must equal."""
    base = tmp_path_factory.mktemp("kill_import")
    vendor = _vendor_files(base / "vendor")
    no_museum = base / "no-museum"
    no_museum.mkdir()
    home = base / "clean"
    run = _import(home, vendor, no_museum, kit)
    assert run.returncode == 0, run.tail(30)
    counts, content = _warehouse(home, kit)
    landing = _landing(home)
    assert counts["fact_lot"] > 5 and counts["lot_source"] > counts["fact_lot"] and counts["quarantine"] >= 2, counts
    assert len(landing) == 2 * 5 and not any(Path(k).name.startswith(".") for k in landing), landing
    return {"vendor": vendor, "no_museum": no_museum, "counts": counts, "content": content, "landing": landing,
            "seconds": run.seconds}


def _check(world, home: Path, kit, killed_landing: dict[str, str]) -> list[str]:  # noqa: ANN001
    """Differences from the clean import (empty: equal), and landing-zone invariants right after the kill."""
    problems = []
    for rel, sha in killed_landing.items():  # right after the kill: nothing half-written under a final name
        if world["landing"].get(rel) != sha:
            problems.append(f"after the kill, visible landing file {rel} is not the clean run's bytes")
    counts, content = _warehouse(home, kit)
    for t in TABLES:
        if counts[t] != world["counts"][t]:
            problems.append(f"{t}: {counts[t]} rows != clean {world['counts'][t]}")
        elif content[t] != world["content"][t]:
            problems.append(f"{t}: same row count, content differs")
    landing = _landing(home)
    for rel in sorted(set(landing) | set(world["landing"])):
        if landing.get(rel) != world["landing"].get(rel):
            problems.append(f"landing {rel}: {'missing' if rel not in landing else 'extra' if rel not in world['landing'] else 'bytes differ'}")
    return problems


POINTS = [
    ("import_landed", "land(): 1st file's bytes in place, its .sha256 not written"),
    ("import_landed:3", "land(): 3rd file's bytes in place (two files fully landed), no .sha256"),
    ("import_parsed", "all files landed + parsed + de-duplicated, warehouse untouched"),
    ("import_lots_loaded", "fact_lot + dimensions committed, lot_source/quarantine not yet"),
    ("import_sources_loaded", "lot_source committed, quarantine/stage_run not yet"),
]


@pytest.mark.parametrize("point,where", POINTS, ids=[p[0] for p in POINTS])
def test_kill_import_at_a_named_point_then_rerun(point, where, import_world, tmp_path, record, kit):
    home = tmp_path / "home"
    w = import_world
    killed = _import(home, w["vendor"], w["no_museum"], kit, GBV_FAULT_KILL_AT=point)
    assert killed.sigkilled, f"the fault point {point} was not reached (exit {killed.returncode}):\n{killed.tail()}"
    after_kill = _landing(home, visible_only=True)
    rerun = _import(home, w["vendor"], w["no_museum"], kit)
    assert rerun.returncode == 0, f"the re-run after a kill at {point} failed:\n{rerun.tail(30)}"
    problems = _check(w, home, kit, after_kill)
    record(f"kill -9 of gbv import at {point}", where,
           "no half file landed; re-run = clean rows + landing bytes",
           f"killed after {killed.seconds:.1f}s ({len(after_kill)} landing files visible); re-run "
           f"{rerun.seconds:.1f}s; {sum(w['counts'].values())} rows; "
           + (problems[0] if problems else "tables ==, landing =="),
           not problems)
    assert not problems, problems


_rng = random.Random(20261125)
FRACTIONS = [round(_rng.uniform(0.25, 0.95), 3)]  # of the clean import's wall time (python start-up included)


@pytest.mark.parametrize("fraction", FRACTIONS, ids=[f"at_{f}_of_clean" for f in FRACTIONS])
def test_kill_import_by_timer_then_rerun(fraction, import_world, tmp_path, record, kit):
    home = tmp_path / "home"
    w = import_world
    delay = round(fraction * w["seconds"], 2)
    killed = _import(home, w["vendor"], w["no_museum"], kit, kill_after_s=delay)
    after_kill = _landing(home, visible_only=True)
    rerun = _import(home, w["vendor"], w["no_museum"], kit)
    assert rerun.returncode == 0, f"the re-run after a kill at {delay}s failed:\n{rerun.tail(30)}"
    problems = _check(w, home, kit, after_kill)
    record(f"kill -9 of gbv import by timer ({killed.killed_by or 'finished first'})",
           f"process group, {fraction:.0%} of the clean import's {w['seconds']:.1f}s",
           "re-run = clean rows + landing bytes",
           f"{len(after_kill)} landing files visible after the kill; re-run {rerun.seconds:.1f}s; "
           + (problems[0] if problems else "tables ==, landing =="),
           not problems)
    assert not problems, problems
