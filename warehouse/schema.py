"""The warehouse star schema (SQLAlchemy Core), the same on DuckDB and PostgreSQL.

Money columns ending in ``_usd`` are US dollars on the **hammer basis** (the winning bid, without buyer's
premium), converted at the sale date's rate; columns without the suffix are in the sale's own currency
(``dim_sale.sale_currency``), also on the hammer basis. Expert identities are pseudonymous (``expert_key``):
raw expert ids never reach the warehouse.

Natural keys are the primary keys, so every load is an idempotent upsert: running a night twice leaves the
same rows. Tables that keep a nightly history are keyed by ``run_date`` too.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

dim_artist = Table(
    "dim_artist", metadata,
    Column("artist_id", String, primary_key=True, comment="stable artist key: normalised name + birth year"),
    Column("artist_name", String, nullable=False, comment="display name as first seen"),
    Column("birth_year", Integer, comment="year of birth"),
    Column("death_year", Integer, comment="year of death; null while living"),
    Column("nationality", String, comment="nationality as given by the source"),
    Column("run_date", Date, comment="night that last updated this row"),
    comment="Artists, one row per resolved identity.",
)

dim_artwork = Table(
    "dim_artwork", metadata,
    Column("artwork_id", String, primary_key=True, comment="stable artwork key (artist, title, year, size)"),
    Column("artist_id", String, nullable=False, comment="-> dim_artist"),
    Column("title", String), Column("medium", String, comment="medium as catalogued"),
    Column("medium_class", String, comment="painting | work_on_paper | print | photograph | sculpture"),
    Column("year_created", Integer), Column("height_cm", Float), Column("width_cm", Float),
    Column("depth_cm", Float), Column("signature", String), Column("description", Text),
    Column("edition", String), Column("image_url", String),
    Column("run_date", Date, comment="night that last updated this row"),
    comment="Physical artworks (a print edition's impressions share an artwork only when catalogued alike).",
)

dim_sale = Table(
    "dim_sale", metadata,
    Column("sale_id", String, primary_key=True, comment="house's sale identifier"),
    Column("house", String, nullable=False, comment="auction house slug (feed folder name)"),
    Column("auction_house", String, comment="auction house display name"),
    Column("sale_title", String), Column("sale_date", Date, nullable=False),
    Column("sale_location", String, comment="city"),
    Column("sale_currency", String, comment="ISO 4217 code of the sale's money columns"),
    Column("run_date", Date, comment="night that last updated this row"),
    comment="Auction sales.",
)

fact_lot = Table(
    "fact_lot", metadata,
    Column("lot_ref", String, primary_key=True, comment="<house>-<sale_id>-<lot number, 4 digits>"),
    Column("sale_id", String, nullable=False, comment="-> dim_sale"),
    Column("artwork_id", String, nullable=False, comment="-> dim_artwork"),
    Column("artist_id", String, nullable=False, comment="-> dim_artist"),
    Column("house", String, nullable=False), Column("sale_date", Date, nullable=False),
    Column("lot_number", Integer, nullable=False), Column("source", String, comment="crawler or importer"),
    Column("estimate_low", Float, comment="pre-sale low estimate, sale currency, hammer basis"),
    Column("estimate_high", Float, comment="pre-sale high estimate, sale currency, hammer basis"),
    Column("hammer_price", Float, comment="hammer price, sale currency; null unless sold"),
    Column("fx_usd", Float, comment="USD per unit of sale currency on the sale date"),
    Column("estimate_low_usd", Float), Column("estimate_high_usd", Float),
    Column("hammer_usd", Float, comment="hammer price in USD; null unless sold"),
    Column("status", String, nullable=False, comment="sold | bought_in | upcoming | withdrawn"),
    Column("run_date", Date, comment="night that last updated this row"),
    comment="One row per lot offered (past results and upcoming catalogue lots).",
)

fact_expert_label = Table(
    "fact_expert_label", metadata,
    Column("label_id", String, primary_key=True),
    Column("lot_ref", String, nullable=False, comment="-> fact_lot"),
    Column("expert_key", String, nullable=False, comment="salted pseudonym of the expert"),
    Column("value_low", Float), Column("value_point", Float), Column("value_high", Float),
    Column("currency", String, comment="currency of value_low/point/high"),
    Column("value_low_usd", Float), Column("value_point_usd", Float), Column("value_high_usd", Float),
    Column("submitted_at", DateTime), Column("style", String),
    Column("attribution_confidence", Float, comment="0..1"), Column("condition", String),
    Column("run_date", Date, comment="night that accepted the label"),
    comment="Expert labels that passed validation (rejected ones are in quarantine).",
)

fact_consensus_label = Table(
    "fact_consensus_label", metadata,
    Column("run_date", Date, primary_key=True), Column("lot_ref", String, primary_key=True),
    Column("consensus_usd", Float, comment="reliability-weighted consensus value, USD, hammer basis"),
    Column("low_usd", Float), Column("high_usd", Float),
    Column("n_experts", Integer), Column("spread", Float, comment="weighted sd of experts' log values"),
    Column("style", String), Column("style_confidence", Float),
    comment="Expert consensus per lot, recomputed each night.",
)

fact_expert_reliability = Table(
    "fact_expert_reliability", metadata,
    Column("run_date", Date, primary_key=True), Column("expert_key", String, primary_key=True),
    Column("n_labels", Integer), Column("n_gold", Integer, comment="labels whose lot later sold"),
    Column("weight", Float, comment="relative reliability weight used in the consensus"),
    Column("log_bias", Float, comment="systematic log over/under-valuation"),
    Column("log_sd", Float, comment="residual sd of log values"),
    comment="Estimated expert reliability per night.",
)

fact_valuation = Table(
    "fact_valuation", metadata,
    Column("run_date", Date, primary_key=True), Column("lot_ref", String, primary_key=True),
    Column("house", String, nullable=False),
    Column("estimate_usd", Float, comment="point estimate, USD, hammer basis"),
    Column("low_usd", Float, comment="lower end of the central 80% interval"),
    Column("high_usd", Float, comment="upper end of the central 80% interval"),
    Column("expert_value_usd", Float, comment="expert consensus value when experts labelled the lot"),
    Column("confidence", Float, comment="0..1, narrower interval = higher"),
    Column("model_version", String, comment="-> dim_model"),
    Column("comparables", Text, comment="up to 5 comparable past sales, 'lot_ref@USD price@YYYY-MM-DD' joined by "
                                        "'; ' (same artist first): price = hammer USD brought to the lot's sale "
                                        "date by the price index (fact_price_index), date = the comparable's sale; "
                                        "raw hammer USD when the comparables index was unavailable (logged)"),
    Column("explanation", Text),
    comment="Nightly valuations of upcoming lots.",
)

dim_model = Table(
    "dim_model", metadata,
    Column("model_version", String, primary_key=True), Column("kind", String, nullable=False),
    Column("status", String, nullable=False, comment="challenger | champion | retired | rejected"),
    Column("created_at", DateTime), Column("promoted_at", DateTime),
    Column("train_until", Date, comment="last sale date in the training data"),
    Column("holdout_from", Date, comment="first sale date of the evaluation holdout"),
    Column("artifact_path", String), Column("metrics_json", Text), Column("params_json", Text),
    Column("hardware", String),
    comment="Model registry: every trained model version and its status.",
)

quarantine = Table(
    "quarantine", metadata,
    Column("run_date", Date, primary_key=True), Column("stage", String, primary_key=True),
    Column("source", String, primary_key=True), Column("row_number", Integer, primary_key=True),
    Column("field", String, primary_key=True),
    Column("row_ref", String, comment="natural key of the row when it could be read"),
    Column("reason", Text, nullable=False), Column("payload", Text, comment="the row as JSON"),
    comment="Rejected input rows with the reason; nothing is dropped silently.",
)

lot_source = Table(
    "lot_source", metadata,
    Column("lot_ref", String, primary_key=True, comment="-> fact_lot (one lot may come from several sources)"),
    Column("source", String, primary_key=True, comment="importer or crawler source, e.g. askart-ny, arthena"),
    Column("source_row_ref", String, comment="where in the source: <file>:<line> or a URL"),
    Column("raw_sha256", String, comment="sha256 of the landed raw file the row was read from"),
    Column("run_date", Date, comment="night (import date) that recorded this source"),
    comment="Every source that reported a lot; de-duplicated lots have one row per source.",
)

stage_run = Table(
    "stage_run", metadata,
    Column("run_date", Date, primary_key=True), Column("stage", String, primary_key=True),
    Column("rows_in", Integer), Column("rows_out", Integer), Column("rows_quarantined", Integer),
    Column("seconds", Float), Column("ok", Boolean),
    comment="Row counts and timings per stage and night (for the report and monitoring).",
)

label_request = Table(
    "label_request", metadata,
    Column("run_date", Date, primary_key=True), Column("lot_ref", String, primary_key=True),
    Column("expert_key", String, primary_key=True, comment="salted pseudonym of the expert asked"),
    Column("priority", Integer, comment="1 = ask first"),
    Column("score", Float, comment="active-learning score: value x (model uncertainty + thin market + "
                                   "expert disagreement)"),
    Column("reason", Text, comment="why the lot was chosen, in words"),
    Column("why", Text, comment="why this expert: their rank for the lot's medium class by proven accuracy "
                                "(median log error on labelled lots that sold, gbv.market.recommend.route_experts) "
                                "and how many better-ranked experts were out of budget or already on the lot"),
    comment="The night's label requests chosen by active learning (gbv.crowd.active), within a daily budget "
            "per expert, each routed to the expert with the best proven accuracy in the lot's segment.",
)

TABLES = {t.name: t for t in metadata.sorted_tables}

# ---- market indices (gbv.market.index; shaped for analysts by the dbt mart mart_price_index) ----------------

fact_price_index = Table(
    "fact_price_index", metadata,
    Column("index_kind", String, primary_key=True,
           comment="hedonic (time-dummy regression) | repeat_sales (Case-Shiller weighted)"),
    Column("frequency", String, primary_key=True, comment="month | quarter"),
    Column("segment_type", String, primary_key=True, comment="all | medium_class | region | price_tier"),
    Column("segment", String, primary_key=True, comment="'all', a medium class, a sale region or a price tier"),
    Column("period_start", Date, primary_key=True, comment="first day of the month or quarter"),
    Column("period", String, nullable=False, comment="YYYY-MM or YYYY-Qn"),
    Column("index_value", Float, comment="price level, 100 at base_period (USD hammer basis); null in a gap"),
    Column("log_index", Float, comment="natural log of index_value / 100"),
    Column("log_index_se", Float, comment="standard error of log_index"),
    Column("ci90_low", Float, comment="lower end of the 90% confidence band of index_value"),
    Column("ci90_high", Float, comment="upper end of the 90% confidence band of index_value"),
    Column("n_obs", Integer, comment="sales (hedonic) or repeat-sale ends (repeat_sales) in the period"),
    Column("is_gap", Boolean, nullable=False, comment="true: no estimate for this period (never interpolated)"),
    Column("gap_reason", String, comment="why the period is a gap"),
    Column("base_period", String, comment="period where the series is 100"),
    Column("run_date", Date, comment="night that computed the series"),
    comment="Art price indices per kind, frequency, segment and period, recomputed whole each night "
            "(gbv.market.index).",
)

fact_artist_price_level = Table(
    "fact_artist_price_level", metadata,
    Column("artist_id", String, primary_key=True, comment="-> dim_artist"),
    Column("period_start", Date, primary_key=True, comment="first day of the quarter"),
    Column("period", String, nullable=False, comment="YYYY-Qn"),
    Column("log_level", Float, comment="mean log hammer USD of the artist's sales in the quarter, adjusted for "
                                       "size and medium by the quarterly hedonic regression"),
    Column("log_level_se", Float, comment="standard error of log_level (residual sd / sqrt(n_sales))"),
    Column("n_sales", Integer, comment="sales in the estimation sample"),
    Column("run_date", Date, comment="night that computed the level"),
    comment="Each artist's quality-adjusted price level per quarter with sales (for momentum in "
            "mart_artist_market).",
)

TABLES.update({t.name: t for t in (fact_price_index, fact_artist_price_level)})

# ---- market alerts (gbv.market.alerts; per house also as alerts/<house>/<date>/alerts.csv) -------------------

market_alert = Table(
    "market_alert", metadata,
    Column("run_date", Date, primary_key=True, comment="night (or `gbv alerts` window end) that raised the alert"),
    Column("alert_id", String, primary_key=True, comment="stable hash of type, house and lot refs"),
    Column("alert_type", String, nullable=False,
           comment="surprise_result | momentum_break | estimate_drift | suspicious_resale | above_comparables "
                   "| price_spike"),
    Column("severity", String, nullable=False, comment="high | medium | low"),
    Column("house", String, nullable=False, comment="auction house slug (alerts folder name)"),
    Column("auction_house", String, comment="auction house display name"),
    Column("sale_date", Date, comment="sale date of the lot (latest sale date of a group alert)"),
    Column("lot_number", Integer, comment="lot number; null for alerts about an artist or segment"),
    Column("artist_name", String), Column("lot_ref", String, comment="-> fact_lot (main lot of the alert)"),
    Column("lot_refs", Text, comment="every lot the alert rests on, ';'-separated"),
    Column("detail", Text, nullable=False, comment="the alert in words"),
    Column("evidence", Text, comment="JSON figures (USD hammer basis; log ratios natural log)"),
    comment="Nightly market alerts: surprise results, momentum breaks, estimate drift, suspicious trades.",
)

TABLES.update({market_alert.name: market_alert})
