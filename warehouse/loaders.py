"""Transactional, idempotent loads into the warehouse.

Two primitives, each one transaction on DuckDB and PostgreSQL alike:

* :func:`upsert` replaces rows by primary key (dimension tables, lots, labels): re-loading the same rows leaves
  the table unchanged; other rows are untouched.
* :func:`replace_partition` replaces every row of one partition (for example one ``run_date`` of valuations):
  re-running a night yields exactly the rows of one run.

All SQL is built by SQLAlchemy with bound parameters; values never become SQL text.

Big frames load in bulk inside the same transaction: on DuckDB the frame is registered as an Arrow view on the
transaction's own connection and moved with ``DELETE ... USING`` / ``INSERT ... SELECT``; on PostgreSQL rows
are streamed with ``COPY ... FROM STDIN``. Both keep the row path's semantics (NaN/NA -> NULL, ISO strings and
timestamps -> dates, keys replaced, one transaction); a frame the bulk path cannot represent exactly (a column
of mixed Python types, tz-aware timestamps) falls back to the row path, and ``GBV_BULK_LOAD=0`` forces it.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Boolean, Connection, Date, DateTime, Engine, Integer, Table, and_, delete, tuple_

from gbv.faults import fault_point
from warehouse.db import with_retries
from warehouse.schema import (
    dim_artist,
    dim_artwork,
    dim_sale,
    fact_lot,
    lot_source,
    quarantine,
    stage_run,
)

log = logging.getLogger(__name__)
_CHUNK = 2000


def _clean(value: Any) -> Any:
    """pandas/numpy scalars -> plain Python values, NaN/NA -> None."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, np.generic):
        value = value.item()
        if isinstance(value, float) and math.isnan(value):
            return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value


def records(df: pd.DataFrame, table: Table) -> list[dict[str, Any]]:
    """Rows of ``df`` restricted to ``table``'s columns, as plain dicts for executemany."""
    cols = [c.name for c in table.columns if c.name in df.columns]
    out = []
    for row in df[cols].itertuples(index=False, name=None):
        out.append({c: _clean(v) for c, v in zip(cols, row, strict=True)})
    return out


def _coerce_dates(rows: list[dict[str, Any]], table: Table) -> None:
    from sqlalchemy import Date, DateTime

    for col in table.columns:
        if isinstance(col.type, DateTime):
            for r in rows:
                v = r.get(col.name)
                if isinstance(v, str):
                    r[col.name] = pd.Timestamp(v).tz_localize(None).to_pydatetime() if pd.Timestamp(v).tzinfo \
                        else pd.Timestamp(v).to_pydatetime()
        elif isinstance(col.type, Date):
            for r in rows:
                v = r.get(col.name)
                if isinstance(v, str):
                    r[col.name] = dt.date.fromisoformat(v[:10])
                elif isinstance(v, dt.datetime):
                    r[col.name] = v.date()


def _insert(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    for i in range(0, len(rows), _CHUNK):
        conn.execute(table.insert(), rows[i:i + _CHUNK])


# ---- bulk paths ----------------------------------------------------------------------------------

class _NoBulk(Exception):
    """The frame cannot go through the bulk path with the row path's exact semantics: use the row path."""


def bulk_enabled() -> bool:
    return os.environ.get("GBV_BULK_LOAD", "1").strip().lower() not in ("0", "false", "no", "off")


def _date_value(value: Any) -> dt.date | None:
    """One value of a Date column, as the row path stores it (``_clean`` then ``_coerce_dates``)."""
    v = _clean(value)
    if v is None:
        return None
    if isinstance(v, str):
        return dt.date.fromisoformat(v[:10])
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    raise _NoBulk(f"date value of type {type(v).__name__}")


def _datetime_value(value: Any) -> dt.datetime | None:
    """One value of a DateTime column, as the row path stores it; tz-aware values are left to the row path."""
    v = _clean(value)
    if v is None:
        return None
    if isinstance(v, str):
        ts = pd.Timestamp(v)
        v = ts.tz_localize(None).to_pydatetime() if ts.tzinfo else ts.to_pydatetime()
    if isinstance(v, dt.datetime) and v.tzinfo is None:
        return v
    raise _NoBulk(f"timestamp value {v!r}")


def _arrow_table(df: pd.DataFrame, table: Table):  # noqa: ANN202 - pyarrow.Table
    """``df``'s columns of ``table`` as an Arrow table with the row path's values (NaN/NA -> null)."""
    import pyarrow as pa

    cols = [c for c in table.columns if c.name in df.columns]
    arrays = []
    try:
        for col in cols:
            s = df[col.name]
            if isinstance(col.type, DateTime):
                if pd.api.types.is_datetime64_dtype(s.dtype):  # naive datetime64: exact already
                    arrays.append(pa.array(s, from_pandas=True))
                else:
                    arrays.append(pa.array([_datetime_value(v) for v in s], type=pa.timestamp("us")))
            elif isinstance(col.type, Date):
                arrays.append(pa.array([_date_value(v) for v in s], type=pa.date32()))
            else:
                arrays.append(pa.array(s, from_pandas=True))
    except (pa.ArrowException, ValueError, TypeError, OverflowError) as exc:
        raise _NoBulk(str(exc)) from exc
    for a in arrays:
        if pa.types.is_nested(a.type) or pa.types.is_dictionary(a.type):
            raise _NoBulk(f"column of Arrow type {a.type}")
    return pa.Table.from_arrays(arrays, names=[c.name for c in cols])


def _q(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def _duckdb_write(conn: Connection, table: Table, df: pd.DataFrame, pk: list[str] | None) -> int:
    """Replace (``pk``) or append ``df``'s rows through an Arrow view on the transaction's DuckDB connection."""
    data = _arrow_table(df, table)
    raw = conn.connection.dbapi_connection  # the same DuckDB connection, inside the same transaction
    view = f"_gbv_bulk_{uuid.uuid4().hex}"
    tname = conn.dialect.identifier_preparer.format_table(table)
    cols = data.column_names
    raw.register(view, data)
    try:
        if pk:
            types = {c.name: c.type.compile(dialect=conn.dialect) for c in table.columns}
            match = " AND ".join(f"{tname}.{_q(conn, k)} = CAST(s.{_q(conn, k)} AS {types[k]})" for k in pk)
            conn.exec_driver_sql(f"DELETE FROM {tname} USING {_q(conn, view)} AS s WHERE {match}")
        conn.exec_driver_sql(f"INSERT INTO {tname} ({', '.join(_q(conn, c) for c in cols)}) "
                             f"SELECT {', '.join(_q(conn, c) for c in cols)} FROM {_q(conn, view)}")
    finally:
        raw.unregister(view)
    return data.num_rows


def _postgres_copy(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Stream ``rows`` into ``table`` with ``COPY ... FROM STDIN`` on the transaction's psycopg connection."""
    from psycopg import sql

    if not rows:
        return
    cols = [c.name for c in table.columns if c.name in rows[0]]
    # COPY parses text where INSERT applies assignment casts: a whole float (1965.0, a NaN-widened int column)
    # goes in as an int; anything else an INSERT would cast (2.5 into an integer, 1 into a boolean) takes the
    # row path
    for name in cols:
        ctype = table.c[name].type
        if isinstance(ctype, Boolean):
            if any(r[name] is not None and not isinstance(r[name], bool) for r in rows):
                raise _NoBulk(f"non-boolean value in {table.name}.{name}")
        elif isinstance(ctype, Integer):
            for r in rows:
                v = r[name]
                if isinstance(v, float):
                    if not v.is_integer():
                        raise _NoBulk(f"fractional value in {table.name}.{name}")
                    r[name] = int(v)
                elif v is not None and (isinstance(v, bool) or not isinstance(v, int)):
                    raise _NoBulk(f"non-integer value in {table.name}.{name}")
    target = sql.Identifier(table.schema, table.name) if table.schema else sql.Identifier(table.name)
    stmt = sql.SQL("COPY {} ({}) FROM STDIN").format(target, sql.SQL(", ").join(map(sql.Identifier, cols)))
    pg = conn.connection.driver_connection
    with pg.cursor() as cur, cur.copy(stmt) as copy:
        for r in rows:
            copy.write_row(tuple(r[c] for c in cols))


def _write(conn: Connection, table: Table, df: pd.DataFrame, pk: list[str] | None) -> None:
    """Delete ``df``'s keys (when ``pk``) and insert its rows, inside the caller's transaction."""
    if df.empty:
        return
    dialect = conn.dialect.name
    if bulk_enabled() and dialect == "duckdb":
        try:
            _duckdb_write(conn, table, df, pk)
            return
        except _NoBulk as why:  # nothing was written yet: the frame could not become an Arrow view
            log.debug("bulk load of %s falls back to rows: %s", table.name, why)
    rows = records(df, table)
    _coerce_dates(rows, table)
    if pk:
        keys = [tuple(r[c] for c in pk) for r in rows]
        for i in range(0, len(keys), _CHUNK):
            chunk = keys[i:i + _CHUNK]
            if len(pk) == 1:
                conn.execute(delete(table).where(table.c[pk[0]].in_([k[0] for k in chunk])))
            else:
                conn.execute(delete(table).where(tuple_(*[table.c[c] for c in pk]).in_(chunk)))
    if bulk_enabled() and dialect == "postgresql":
        try:
            _postgres_copy(conn, table, rows)  # checks every value before it sends the first row
            return
        except _NoBulk as why:
            log.debug("COPY into %s falls back to rows: %s", table.name, why)
    _insert(conn, table, rows)


def upsert(engine: Engine | Connection, table: Table, df: pd.DataFrame) -> int:
    """Insert or replace ``df``'s rows in ``table`` by primary key, in one transaction. Returns row count."""
    if df.empty:
        return 0
    pk = [c.name for c in table.primary_key.columns]
    missing = [c for c in pk if c not in df.columns]
    if missing:
        raise ValueError(f"upsert into {table.name}: frame lacks key column(s) {missing}")
    df = df.drop_duplicates(subset=pk, keep="last")

    def run(conn: Connection) -> None:
        _write(conn, table, df, pk)

    _in_transaction(engine, run, f"upsert {table.name}")
    return len(df)


def replace_partition(engine: Engine | Connection, table: Table, df: pd.DataFrame,
                      partition: Mapping[str, Any]) -> int:
    """Replace all rows of ``table`` matching ``partition`` (column -> value) with ``df``, in one transaction."""
    rows = df.assign(**partition) if not df.empty else df
    cond = [table.c[k] == (dt.date.fromisoformat(v) if isinstance(v, str) and k == "run_date" else v)
            for k, v in partition.items()]

    def run(conn: Connection) -> None:
        conn.execute(delete(table).where(and_(*cond)))
        _write(conn, table, rows, None)

    _in_transaction(engine, run, f"replace {table.name} {dict(partition)}")
    return len(rows)


def _in_transaction(engine: Engine | Connection, fn, what: str = "") -> None:  # noqa: ANN001
    """Run ``fn(conn)`` in one transaction. Given an Engine, the transaction is ours: a lost connection (server
    restart, network blip) rolls it back and it is retried with backoff (``warehouse.db.with_retries``). Given a
    Connection, the caller owns the transaction and its retries."""
    if isinstance(engine, Connection):
        if engine.in_transaction():
            fn(engine)
        else:
            with engine.begin():
                fn(engine)
        return

    def once() -> None:
        with engine.begin() as conn:
            fn(conn)

    with_retries(once, what or getattr(fn, "__qualname__", "load"))


# ---- domain loaders ------------------------------------------------------------------------------

def upsert_lots(engine: Engine | Connection, lots: pd.DataFrame, run_date: str | dt.date | None = None) -> int:
    """Load conformed lots (gbv.contracts.LOT_COLUMNS) into dim_artist, dim_artwork, dim_sale and fact_lot.

    All four tables in one transaction, so a crash leaves either the old or the new state.
    """
    if lots.empty:
        return 0
    rd = dt.date.fromisoformat(str(run_date)) if run_date else None
    artists = lots.rename(columns={"artist_birth_year": "birth_year", "artist_death_year": "death_year",
                                   "artist_nationality": "nationality"})
    artists = artists.drop_duplicates("artist_id", keep="last")
    sales = lots.drop_duplicates("sale_id", keep="last")
    artworks = lots.drop_duplicates("artwork_id", keep="last")
    extra = {"run_date": rd}

    def run(conn: Connection) -> None:
        upsert(conn, dim_artist, artists.assign(**extra))
        upsert(conn, dim_artwork, artworks.assign(**extra))
        upsert(conn, dim_sale, sales.assign(**extra))
        fault_point("warehouse_lots_tx")  # dimensions written, fact_lot not yet: all or nothing commits
        upsert(conn, fact_lot, lots.assign(**extra))

    _in_transaction(engine, run, f"lots ({len(lots)} rows)")
    return len(lots)


def load_quarantine(engine: Engine | Connection, rows: pd.DataFrame, run_date: str, stage: str,
                    sources: Iterable[str] | None = None) -> int:
    """Replace one night's quarantine rows for a stage (and its sources) with ``rows``."""
    rd = dt.date.fromisoformat(str(run_date))
    rows = rows.copy()
    if not rows.empty:
        rows["run_date"] = rd
        rows["stage"] = stage
        rows["row_number"] = rows["row_number"].fillna(0).astype(int)
        rows["field"] = rows["field"].fillna("")
        rows = rows.drop_duplicates(subset=["source", "row_number", "field"], keep="first")

    def run(conn: Connection) -> None:
        cond = [quarantine.c.run_date == rd, quarantine.c.stage == stage]
        srcs = sorted(set(sources or []) | (set(rows["source"]) if not rows.empty else set()))
        if srcs:
            cond.append(quarantine.c.source.in_(srcs))
        conn.execute(delete(quarantine).where(and_(*cond)))
        _write(conn, quarantine, rows, None)

    _in_transaction(engine, run, f"quarantine {stage}")
    return len(rows)


def record_stage(engine: Engine | Connection, run_date: str, stage: str, *, rows_in: int | None = None,
                 rows_out: int | None = None, rows_quarantined: int | None = None,
                 seconds: float | None = None, ok: bool = True) -> None:
    """Record one stage's counts for the night (idempotent by run_date + stage)."""
    df = pd.DataFrame([{"run_date": dt.date.fromisoformat(str(run_date)), "stage": stage, "rows_in": rows_in,
                        "rows_out": rows_out, "rows_quarantined": rows_quarantined,
                        "seconds": None if seconds is None else round(seconds, 3), "ok": ok}])
    upsert(engine, stage_run, df)


def upsert_lot_sources(engine: Engine | Connection, rows: pd.DataFrame,
                       run_date: str | dt.date | None = None) -> int:
    """Record which sources reported which lots (``lot_source``: lot_ref, source, source_row_ref, raw_sha256,
    run_date); idempotent by (lot_ref, source)."""
    if rows.empty:
        return 0
    rows = rows.copy()
    if run_date is not None:
        rows["run_date"] = dt.date.fromisoformat(str(run_date)[:10])
    return upsert(engine, lot_source, rows)
