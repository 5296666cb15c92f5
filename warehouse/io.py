"""Reads from the warehouse into DataFrames in the shapes of gbv.contracts."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.sql import Select

from gbv.contracts import CONSENSUS_COLUMNS, LOT_COLUMNS
from warehouse.schema import (
    dim_artist,
    dim_artwork,
    dim_sale,
    fact_consensus_label,
    fact_expert_reliability,
    fact_lot,
)

READ_CHUNK_ROWS = 100_000


def read_frame(conn: Connection, stmt: Select) -> pd.DataFrame:
    """``stmt``'s rows as a DataFrame without a Python object per value: what a million-lot night needs.

    On DuckDB the statement runs on the transaction's own DuckDB connection (bound parameters, never
    literals) and comes back as Arrow; elsewhere ``pd.read_sql`` reads it in chunks of ``READ_CHUNK_ROWS``,
    each made columnar before the next is fetched. Either way text columns are pandas' Arrow-backed strings.
    """
    if conn.dialect.name == "duckdb":
        import pyarrow as pa

        # expanding parameters (IN lists) rendered into one placeholder per value
        compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
        params = [compiled.params[k] for k in compiled.positiontup or []]
        result = conn.connection.dbapi_connection.execute(compiled.string, params)
        table = result.to_arrow_table() if hasattr(result, "to_arrow_table") else result.fetch_arrow_table()
        # DECIMAL results (sums, casts) become floats as read_sql gives them, not Python Decimals
        for i, field in enumerate(table.schema):
            if pa.types.is_decimal(field.type):
                table = table.set_column(i, field.name, table.column(i).cast(pa.float64()))
        return table.to_pandas()
    chunks = list(pd.read_sql(stmt, conn, chunksize=READ_CHUNK_ROWS))
    if not chunks:
        return pd.read_sql(stmt, conn)
    return pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0]


def read_table(engine: Engine, table, where=None) -> pd.DataFrame:  # noqa: ANN001
    stmt = select(table)
    if where is not None:
        stmt = stmt.where(where)
    with engine.connect() as conn:
        return read_frame(conn, stmt)


def read_lots(engine: Engine, *, before: dt.date | None = None,
              statuses: tuple[str, ...] | None = None) -> pd.DataFrame:
    """All lots (optionally with sale_date < before, optionally only those of ``statuses``) in LOT_COLUMNS,
    joined with their dimensions."""
    a, w, s, f = dim_artist, dim_artwork, dim_sale, fact_lot
    stmt = (
        select(
            f.c.lot_ref, f.c.source, f.c.house, s.c.auction_house, f.c.sale_id, s.c.sale_title, f.c.sale_date,
            s.c.sale_location, s.c.sale_currency, f.c.lot_number, f.c.artist_id, a.c.artist_name,
            a.c.birth_year.label("artist_birth_year"), a.c.death_year.label("artist_death_year"),
            a.c.nationality.label("artist_nationality"), f.c.artwork_id, w.c.title, w.c.medium,
            w.c.medium_class, w.c.year_created, w.c.height_cm, w.c.width_cm, w.c.depth_cm, w.c.signature,
            w.c.description, w.c.edition, w.c.image_url, f.c.estimate_low, f.c.estimate_high,
            f.c.hammer_price, f.c.fx_usd, f.c.estimate_low_usd, f.c.estimate_high_usd, f.c.hammer_usd,
            f.c.status,
        )
        .join(s, s.c.sale_id == f.c.sale_id)
        .join(a, a.c.artist_id == f.c.artist_id)
        .join(w, w.c.artwork_id == f.c.artwork_id)
        .order_by(f.c.sale_date, f.c.lot_ref)
    )
    if before is not None:
        stmt = stmt.where(f.c.sale_date < before)
    if statuses is not None:
        stmt = stmt.where(f.c.status.in_(list(statuses)))
    with engine.connect() as conn:
        df = read_frame(conn, stmt)
    df["sale_date"] = pd.to_datetime(df["sale_date"]).dt.date
    return df[list(LOT_COLUMNS)]


def read_latest_reliability(engine: Engine) -> pd.DataFrame:
    """Expert reliability of the latest night that has one (empty when none)."""
    t = fact_expert_reliability
    with engine.connect() as conn:
        night = conn.execute(select(func.max(t.c.run_date))).scalar()
        if night is None:
            return pd.DataFrame(columns=[c.name for c in t.columns])
        return read_frame(conn, select(t).where(t.c.run_date == night))


def read_consensus(engine: Engine, run_date: dt.date | str | None = None) -> pd.DataFrame:
    """Consensus per lot for one night (default: the latest night that has one)."""
    t = fact_consensus_label
    with engine.connect() as conn:
        if run_date is None:
            run_date = conn.execute(select(func.max(t.c.run_date))).scalar()
            if run_date is None:
                return pd.DataFrame(columns=list(CONSENSUS_COLUMNS))
        if isinstance(run_date, str):
            run_date = dt.date.fromisoformat(run_date)
        df = pd.read_sql(select(t).where(t.c.run_date == run_date), conn)
    return df[list(CONSENSUS_COLUMNS)]
