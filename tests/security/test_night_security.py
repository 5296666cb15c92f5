"""Over one real demo night (400 lots, DuckDB): feeds are isolated per house, expert ids are pseudonymous.

The raw landing zone of the labelling tool's export (``$GBV_HOME/raw/labels/``) is exempt from the expert-id
scan: it *is* the labelling tool's export, the one place raw ids may live. Everything else under GBV_HOME is
scanned (warehouse, feeds, reports, Data Docs, stage files, crawl landings and logs), and so is every log
record of the run.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import MetaData, String, Table, Text, create_engine, inspect, select, text

from gbv.night import run_night

RUN_DATE = "2026-10-01"
RAW_EXPERT_ID = re.compile(rb"(?<![A-Za-z0-9])E\d{3}(?![0-9])")


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # noqa: BLE001
            self.lines.append(str(record.msg))


@pytest.fixture(scope="module")
def night(tmp_path_factory, demo_env):
    home = tmp_path_factory.mktemp("security_night")
    handler = _Collect()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    with demo_env(home) as settings:
        try:
            result = run_night(RUN_DATE, settings, log_level="INFO")
        finally:
            root.removeHandler(handler)
            root.setLevel(old_level)
        from warehouse.db import dispose_engines

        dispose_engines()
    assert result.success, result
    return {"settings": settings, "log": "\n".join(handler.lines)}


def _feeds(settings) -> dict[str, pd.DataFrame]:
    out = {}
    for path in sorted(settings.feeds_dir.glob(f"*/{RUN_DATE}/estimates.csv")):
        out[path.parent.parent.name] = pd.read_csv(path, dtype=str)
    return out


def test_no_house_feed_holds_another_house_lot(night):
    settings = night["settings"]
    feeds = _feeds(settings)
    assert len(feeds) >= 2, "a night of the demo world writes one feed per house"
    engine = create_engine(settings.warehouse_url)
    with engine.connect() as conn:
        house_of = dict(conn.execute(text("SELECT lot_ref, house FROM fact_lot")).all())
    engine.dispose()
    seen: dict[str, str] = {}
    assert sum(len(f) for f in feeds.values()) > 0
    for house, feed in feeds.items():
        for ref in feed["lot_ref"]:
            assert house_of[ref] == house, f"{house}'s feed holds {ref} of {house_of[ref]}"
            assert ref.startswith(f"{house}-")
            assert seen.setdefault(ref, house) == house  # and no lot in two feeds


BINARY_ASSETS = {".gif", ".png", ".jpg", ".jpeg", ".ico", ".woff", ".woff2", ".ttf", ".eot"}
BASE64_DATA = re.compile(rb"data:[\w/+.-]+;base64,[A-Za-z0-9+/=]+")  # embedded images (charts in the report)
DBT_EVENT_CODE = re.compile(rb'"code": "[A-Z]\d{3}"')  # dbt's JSON log names its events E034, Q017...: not experts


def _file_text(path: Path) -> bytes:
    """What a file says, as bytes to scan: parquet through its columns, other files as they are."""
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
        return (frame.astype(str).to_csv(index=False) + ",".join(map(str, frame.columns))).encode()
    return DBT_EVENT_CODE.sub(b"", BASE64_DATA.sub(b"", path.read_bytes()))


def _scan_files(root: Path, exempt: Path) -> dict[str, int]:
    hits: dict[str, int] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if exempt in path.parents or path.suffix.lower() in BINARY_ASSETS:
            continue
        if path.suffix in (".duckdb", ".wal"):
            continue  # the warehouse is scanned through SQL, column by column
        n = len(RAW_EXPERT_ID.findall(_file_text(path)))
        if n:
            hits[str(path.relative_to(root))] = n
    return hits


def test_expert_ids_are_pseudonymous_in_every_file_outside_the_labelling_export(night):
    settings = night["settings"]
    exempt = settings.raw_dir / "labels"
    assert exempt.is_dir() and RAW_EXPERT_ID.search(
        b"".join(p.read_bytes() for p in exempt.rglob("*") if p.is_file())
    ), "the labelling tool's export holds raw ids (else this scan proves nothing)"
    for folder in (settings.feeds_dir, settings.reports_dir, settings.data_docs_dir, settings.stage_dir):
        assert folder.is_dir() and any(folder.rglob("*")), folder
    hits = _scan_files(settings.home, exempt)
    assert hits == {}


def test_the_expert_labels_stage_file_only_points_at_the_export(night):
    """The expert_labels asset stores where the export landed, never the export's rows (raw ids)."""
    stage_files = list((night["settings"].stage_dir / "expert_labels").glob(f"{RUN_DATE}.*"))
    assert stage_files, "the expert_labels asset was materialized"
    for path in stage_files:
        assert path.suffix == ".json"
        assert RAW_EXPERT_ID.findall(_file_text(path)) == []


def test_expert_ids_are_pseudonymous_in_every_warehouse_text_column(night):
    settings = night["settings"]
    engine = create_engine(settings.warehouse_url)
    hits = {}
    n_labels = 0
    with engine.connect() as conn:
        insp = inspect(conn)
        for name in [*insp.get_table_names(), *insp.get_view_names()]:
            table = Table(name, MetaData(), autoload_with=conn)
            for col in table.columns:
                if not isinstance(col.type, String | Text) and "VARCHAR" not in str(col.type).upper():
                    continue
                values = conn.execute(select(col).where(col.is_not(None))).scalars()
                n = sum(1 for v in values if RAW_EXPERT_ID.search(str(v).encode()))
                if n:
                    hits[f"{name}.{col.name}"] = n
        n_labels = conn.execute(text("SELECT count(*) FROM fact_expert_label")).scalar_one()
    engine.dispose()
    assert n_labels > 0, "the night stored expert labels (else this scan proves nothing)"
    assert hits == {}


def test_expert_ids_are_pseudonymous_in_the_log(night):
    assert len(night["log"]) > 1000
    assert RAW_EXPERT_ID.findall(night["log"].encode()) == []
