"""Analyst views over the star schema (plain SQL that runs on DuckDB and PostgreSQL).

* ``mart_latest_valuation``: the most recent valuation of every lot, with its lot, sale and artist.
* ``mart_valuation_accuracy``: for lots valued before their sale and since sold, the model's and the house's
  log errors (hammer basis, USD).
* ``mart_quarantine_summary``: rejected rows per night, stage, source and reason.

The first two are bootstrap versions: the dbt project in ``warehouse/dbt`` (``gbv marts build`` and the nightly
Dagster marts assets) replaces them with its models of the same names (the same columns first, more after), so
they are created here only while no relation of that name exists, and never replaced over dbt's.
"""

from __future__ import annotations

from sqlalchemy import Engine, inspect, text

VIEWS = {
    "mart_latest_valuation": """
        SELECT v.run_date, v.lot_ref, v.house, s.auction_house, s.sale_id, s.sale_date, s.sale_location,
               a.artist_name, w.title, w.medium_class, v.estimate_usd, v.low_usd, v.high_usd,
               v.expert_value_usd, v.confidence, v.model_version, v.comparables, v.explanation,
               f.estimate_low_usd AS house_low_usd, f.estimate_high_usd AS house_high_usd, f.status
        FROM fact_valuation v
        JOIN (SELECT lot_ref, MAX(run_date) AS run_date FROM fact_valuation GROUP BY lot_ref) latest
          ON latest.lot_ref = v.lot_ref AND latest.run_date = v.run_date
        JOIN fact_lot f ON f.lot_ref = v.lot_ref
        JOIN dim_sale s ON s.sale_id = f.sale_id
        JOIN dim_artist a ON a.artist_id = f.artist_id
        JOIN dim_artwork w ON w.artwork_id = f.artwork_id
    """,
    "mart_valuation_accuracy": """
        SELECT v.run_date, v.lot_ref, v.house, f.sale_date, w.medium_class, v.model_version,
               f.hammer_usd, v.estimate_usd,
               LN(v.estimate_usd / f.hammer_usd) AS model_log_error,
               LN(SQRT(f.estimate_low_usd * f.estimate_high_usd) / f.hammer_usd) AS house_log_error,
               CASE WHEN f.hammer_usd BETWEEN v.low_usd AND v.high_usd THEN 1 ELSE 0 END AS in_range
        FROM fact_valuation v
        JOIN fact_lot f ON f.lot_ref = v.lot_ref
        JOIN dim_artwork w ON w.artwork_id = f.artwork_id
        WHERE f.status = 'sold' AND f.hammer_usd > 0 AND v.estimate_usd > 0 AND v.run_date <= f.sale_date
    """,
    "mart_quarantine_summary": """
        SELECT run_date, stage, source, reason, COUNT(*) AS n_rows
        FROM quarantine GROUP BY run_date, stage, source, reason
    """,
}


DBT_OWNED = ("mart_latest_valuation", "mart_valuation_accuracy")  # models in warehouse/dbt/models/marts


def create_views(engine: Engine) -> None:
    with engine.begin() as conn:
        existing = set()
        if any(name in DBT_OWNED for name in VIEWS):
            insp = inspect(conn)
            existing = set(insp.get_view_names()) | set(insp.get_table_names())
        for name, sql in VIEWS.items():
            if name in DBT_OWNED and name in existing:
                continue  # dbt's model (or this bootstrap view already): leave it
            conn.execute(text(f"CREATE OR REPLACE VIEW {name} AS {sql}"))
