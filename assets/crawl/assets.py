"""Crawl domain: raw landing zone -> staged lots -> conformed lots, sales, artworks, artists."""


import datetime as dt
import json

import dagster as dg
import pandas as pd

from assets.common import RETRY, daily_partitions, settings_for, stage
from assets.resources import SourcesResource, WarehouseResource
from gbv.contracts import RAW_LOT_FIELDS

GROUP = "crawl"


def _as_text(value: object) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return str(value)


@dg.asset(partitions_def=daily_partitions, group_name=GROUP, retry_policy=RETRY, kinds={"scrapy"},
          description="Crawl every source politely into the immutable raw landing zone (JSONL per source "
                      "and night). A night already landed is replayed, not crawled again.")
def raw_lots(context: dg.AssetExecutionContext, sources: SourcesResource,
             warehouse: WarehouseResource) -> dict:
    from crawlers.run import crawl_demo_site, read_rejects
    from gbv.demo.site import DemoSite
    from warehouse.loaders import load_quarantine

    settings = settings_for(context)
    run_date = context.partition_key
    with stage(warehouse.engine(), run_date, "raw_lots") as counts:
        demo, base_url = None, sources.demo_site_url
        if base_url:  # a site running in a process of its own (`gbv demo-site`): the world stays there
            from gbv.demo.world import HOUSES as houses
        else:  # no running site configured: serve the demo world ourselves for this crawl
            world = sources.world()
            houses = world.houses
            demo = DemoSite(world, dt.date.fromisoformat(run_date))
            demo.start()
            base_url = demo.base_url
        try:
            results = crawl_demo_site(base_url, run_date, houses, settings)
        finally:
            if demo is not None:
                demo.stop()
        landed = {r.source: {"path": str(r.path), "items": r.n_items, "rejected": r.n_rejected,
                             "replayed": r.skipped} for r in results}
        rejects = pd.DataFrame([
            {"source": r.source, "row_ref": rej.get("url"), "row_number": i, "field": rej.get("stage") or "page",
             "reason": rej.get("reason"), "payload": json.dumps(rej.get("payload"), sort_keys=True, default=str)}
            for r in results for i, rej in enumerate(read_rejects(r.source, run_date, settings), start=1)
        ], columns=["source", "row_ref", "row_number", "field", "reason", "payload"])
        load_quarantine(warehouse.engine(), rejects, run_date, "crawl", sources=[r.source for r in results])
        counts["rows_out"] = sum(r.n_items for r in results)
        counts["rows_quarantined"] = sum(r.n_rejected for r in results)
    context.add_output_metadata({"sources": dg.MetadataValue.json(landed),
                                 "items": counts["rows_out"], "rejected": counts["rows_quarantined"]})
    return landed


@dg.asset(partitions_def=daily_partitions, group_name=GROUP, kinds={"pandas"},
          description="The night's landed items from every source as one table (raw strings, RAW_LOT_FIELDS).")
def staged_lots(context: dg.AssetExecutionContext, raw_lots: dict, warehouse: WarehouseResource) -> pd.DataFrame:
    settings = settings_for(context)
    run_date = context.partition_key
    frames = []
    with stage(warehouse.engine(), run_date, "staged_lots") as counts:
        for source in sorted(raw_lots):
            frames.extend(_landed_chunks(source, run_date, settings))
        staged = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
            columns=[*RAW_LOT_FIELDS, "row_number"])
        if not frames:
            for col in RAW_LOT_FIELDS:
                staged[col] = staged[col].astype("object")
        counts["rows_in"] = counts["rows_out"] = len(staged)
    return staged


STAGE_CHUNK_ROWS = 50_000


def _landed_chunks(source: str, run_date: str, settings, chunk_rows: int = STAGE_CHUNK_ROWS):  # noqa: ANN001, ANN202
    """A source's landed lots as frames of at most ``chunk_rows`` rows, read from the JSONL a chunk at a time
    (only complete landings are read): raw values as text, ``row_number`` counting the source's lines from 1."""
    from crawlers.pipelines.landing import LOTS_FILE
    from crawlers.run import landing_path, read_success

    read_success(source, run_date, settings)  # raises unless the landing is complete

    def frame(items: list, start: int) -> pd.DataFrame:
        f = pd.DataFrame(items, columns=list(RAW_LOT_FIELDS))
        # raw values stay as found, as text (a number on one page may be a string on another), in pandas'
        # Arrow-backed strings: a million rows of Python str objects would take gigabytes
        for col in RAW_LOT_FIELDS:
            f[col] = f[col].map(_as_text).astype("str")
        f["row_number"] = range(start, start + len(f))
        return f

    start, batch = 1, []
    with open(landing_path(source, run_date, settings) / LOTS_FILE, encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            batch.append(json.loads(line))
            if len(batch) >= chunk_rows:
                yield frame(batch, start)
                start, batch = start + len(batch), []
    if batch or start == 1:
        yield frame(batch, start)


@dg.multi_asset(
    partitions_def=daily_partitions, group_name=GROUP,
    outs={
        "lots": dg.AssetOut(description="Conformed lots (LOT_COLUMNS): money on the hammer basis, USD, cm, "
                                         "dates, medium classes, artist identity.", kinds={"pandas"}),
        "sales": dg.AssetOut(description="Sales seen tonight.", kinds={"pandas"}),
        "artworks": dg.AssetOut(description="Artworks seen tonight.", kinds={"pandas"}),
        "artists": dg.AssetOut(description="Artists seen tonight.", kinds={"pandas"}),
    },
)
def conformed(context: dg.AssetExecutionContext, staged_lots: pd.DataFrame, warehouse: WarehouseResource):
    """Normalise staged rows; rows that cannot be conformed go to quarantine with field and reason."""
    from gbv.staging import conform_in_chunks
    from warehouse.loaders import load_quarantine

    run_date = context.partition_key
    engine = warehouse.engine()
    with stage(engine, run_date, "conformed_lots") as counts:
        result = conform_in_chunks(staged_lots.drop(columns=["row_number"], errors="ignore"), run_date)
        load_quarantine(engine, result.quarantine, run_date, "conform",
                        sources=sorted(set(staged_lots["source"].dropna())) if len(staged_lots) else [])
        lots = result.lots
        counts.update(rows_in=len(staged_lots), rows_out=len(lots), rows_quarantined=len(result.quarantine))
    del staged_lots
    context.log.info("conformed %d lots, quarantined %d rows, warnings %s", len(lots), len(result.quarantine),
                     json.dumps(dict(getattr(result, "warnings", {}) or {})))
    sales = lots.drop_duplicates("sale_id")[["sale_id", "house", "auction_house", "sale_title", "sale_date",
                                              "sale_location", "sale_currency"]].reset_index(drop=True)
    artworks = lots.drop_duplicates("artwork_id")[[
        "artwork_id", "artist_id", "title", "medium", "medium_class", "year_created", "height_cm", "width_cm",
        "depth_cm", "signature", "description", "edition", "image_url"]].reset_index(drop=True)
    artists = lots.drop_duplicates("artist_id")[["artist_id", "artist_name", "artist_birth_year",
                                                 "artist_death_year", "artist_nationality"]].reset_index(drop=True)
    return lots, sales, artworks, artists
