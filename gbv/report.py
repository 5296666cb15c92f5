"""The static HTML nightly report: what ran, what was rejected, how the model stands, what was valued.

One self-contained file per night (plots embedded as PNG), ``$GBV_HOME/reports/<date>.html``, plus
``latest.html``. Expert identities appear only as pseudonyms.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import json
import os
import uuid
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine, select, text

from gbv.settings import Settings, safe_component
from warehouse.schema import dim_model, fact_expert_reliability, fact_valuation, stage_run

STAGE_ORDER = ["raw_lots", "staged_lots", "conformed_lots", "warehouse_lots", "expert_labels", "validated_labels",
               "consensus_labels", "warehouse_labels", "champion_model", "features", "valuations",
               "warehouse_valuations", "estimate_feeds", "nightly_report"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.9rem;margin:.5rem 0}td,th{border:1px solid #ddd;padding:.25rem .6rem}
th{background:#f4f4f4;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
.bad{color:#b00020;font-weight:600}.ok{color:#1b7f3b}.muted{color:#777}img{max-width:100%}
"""


def _table(df: pd.DataFrame, max_rows: int = 50) -> str:
    if df.empty:
        return '<p class="muted">none</p>'
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = []
    for rec in df.head(max_rows).itertuples(index=False):
        cells = []
        for v in rec:
            num = isinstance(v, int | float) and not isinstance(v, bool)
            if pd.isna(v):
                shown = ""
            elif isinstance(v, float):
                shown = f"{v:,.2f}"
            elif num:
                shown = f"{v:,d}"
            else:
                shown = str(v)
            cells.append(f'<td class="num">{shown}</td>' if num else f"<td>{html.escape(shown)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    more = f'<p class="muted">{len(df) - max_rows} more rows not shown</p>' if len(df) > max_rows else ""
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>{more}"


def _png(fig) -> str:  # noqa: ANN001
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return f'<img alt="plot" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _plots(valuations: pd.DataFrame, reliability: pd.DataFrame) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    out = []
    if not valuations.empty:
        fig, ax = plt.subplots(figsize=(7, 3.2))
        for house, grp in valuations.groupby("house"):
            ax.hist(np.log10(grp["estimate_usd"].astype(float)), bins=20, alpha=0.55, label=house)
        ax.set_xlabel("log10 estimate (USD, hammer basis)")
        ax.set_ylabel("lots")
        ax.set_title("Tonight's estimates by house")
        ax.legend()
        out.append(_png(fig))
        plt.close(fig)
        fig, ax = plt.subplots(figsize=(7, 3.2))
        v = valuations.sort_values("estimate_usd").reset_index(drop=True)
        ax.fill_between(range(len(v)), v["low_usd"], v["high_usd"], alpha=0.3, label="80% range")
        ax.plot(range(len(v)), v["estimate_usd"], lw=1, label="estimate")
        if v["expert_value_usd"].notna().any():
            ax.scatter(v.index[v["expert_value_usd"].notna()], v["expert_value_usd"].dropna(), s=10,
                       color="black", label="expert consensus")
        ax.set_yscale("log")
        ax.set_xlabel("lots, ordered by estimate")
        ax.set_ylabel("USD")
        ax.set_title("Estimates with their 80% ranges")
        ax.legend()
        out.append(_png(fig))
        plt.close(fig)
    if not reliability.empty:
        fig, ax = plt.subplots(figsize=(7, 2.8))
        r = reliability.sort_values("weight")
        ax.barh(r["expert_key"], r["weight"])
        ax.set_xlabel("reliability weight")
        ax.set_title("Expert reliability (pseudonymous)")
        out.append(_png(fig))
        plt.close(fig)
    return "".join(out)


def build_report(engine: Engine, settings: Settings, run_date: str) -> Path:
    """Write the night's report and return its path."""
    rd = dt.date.fromisoformat(run_date)
    with engine.connect() as conn:
        stages = pd.read_sql(select(stage_run).where(stage_run.c.run_date == rd), conn)
        quarantine = pd.read_sql(text("SELECT stage, source, reason, n_rows FROM mart_quarantine_summary "
                                      "WHERE run_date = :d ORDER BY stage, source, n_rows DESC"), conn,
                                 params={"d": rd})
        examples = pd.read_sql(text("SELECT stage, source, row_number, row_ref, field, reason FROM quarantine "
                                    "WHERE run_date = :d ORDER BY stage, source, row_number, field"), conn,
                               params={"d": rd})
        models = pd.read_sql(select(dim_model).order_by(dim_model.c.created_at), conn)
        valuations = pd.read_sql(select(fact_valuation).where(fact_valuation.c.run_date == rd), conn)
        reliability = pd.read_sql(select(fact_expert_reliability)
                                  .where(fact_expert_reliability.c.run_date == rd), conn)
    if not stages.empty:
        order = {s: i for i, s in enumerate(STAGE_ORDER)}
        stages = stages.assign(_o=stages["stage"].map(order).fillna(99)).sort_values("_o").drop(columns=["_o"])
        stages = stages.drop(columns=["run_date"])
        counts = ["rows_in", "rows_out", "rows_quarantined"]
        stages[counts] = stages[counts].astype("Int64")
    failed = stages[~stages["ok"].astype(bool)] if not stages.empty else stages

    champion = models[models["status"] == "champion"]
    metrics_html = '<p class="muted">no champion model yet</p>'
    if not champion.empty:
        row = champion.iloc[-1]
        metrics = json.loads(row["metrics_json"] or "{}")
        flat = pd.json_normalize(metrics, sep=".").T.reset_index()
        flat.columns = ["metric", "value"]
        metrics_html = (f"<p>Champion <b>{html.escape(row['model_version'])}</b> ({html.escape(row['kind'])}), "
                        f"trained on sales up to {row['train_until']}, hardware {html.escape(str(row['hardware']))}"
                        f".</p>" + _table(flat, 60))
    registry = models[["model_version", "kind", "status", "created_at", "promoted_at"]] if not models.empty \
        else models
    per_house = (valuations.groupby("house").agg(lots=("lot_ref", "count"),
                                                  with_expert_value=("expert_value_usd", "count"),
                                                  median_estimate_usd=("estimate_usd", "median"),
                                                  mean_confidence=("confidence", "mean")).reset_index()
                 if not valuations.empty else pd.DataFrame())
    feeds = []
    for house_dir in sorted(settings.feeds_dir.glob("*")):
        mf = house_dir / run_date / "manifest.json"
        if mf.exists():
            m = json.loads(mf.read_text())
            feeds.append({"house": house_dir.name, "rows": m["row_count"], "sha256": m["sha256"][:16],
                          "path": str(house_dir / run_date)})
    docs = settings.data_docs_dir / "index.html"
    status = (f'<span class="bad">{len(failed)} stage(s) failed</span>' if len(failed)
              else '<span class="ok">all recorded stages succeeded</span>')
    body = f"""<!doctype html><html><head><meta charset="utf-8"><title>gbv night {run_date}</title>
<style>{_CSS}</style></head><body>
<h1>Global Brain Valuation — night of {run_date}</h1>
<p>{status}. Warehouse: <code>{html.escape(engine.url.render_as_string(hide_password=True))}</code>.
Label validation Data Docs: <a href="{html.escape(docs.as_uri())}">{html.escape(str(docs))}</a>.</p>
<h2>Stages</h2>{_table(stages)}
<h2>Quarantine</h2><p>{int(quarantine['n_rows'].sum()) if not quarantine.empty else 0} rejected row-reasons
tonight; nothing is dropped silently.</p>{_table(quarantine)}
<details><summary>First rejected rows</summary>{_table(examples, 40)}</details>
<h2>Model</h2>{metrics_html}<h3>Registry</h3>{_table(registry)}
<h2>Valuations</h2>{_table(per_house)}{_plots(valuations, reliability)}
<h2>Feeds</h2>{_table(pd.DataFrame(feeds))}
</body></html>
"""
    out_dir = settings.reports_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{safe_component(run_date, 'run date')}.html"
    for target in (path, out_dir / "latest.html"):
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
        tmp.write_text(body, encoding="utf-8")
        os.replace(tmp, target)
    return path
