"""A seeded, deterministic synthetic art market for the demo and the tests.

The world has artists with market levels and life dates, artworks with medium, size, year and text, four
auction houses in different cities and currencies holding sales from 2016 to 2026, hammer prices from a hedonic
process with noise (and bought-in lots below the reserve), pre-sale estimates with the houses' own error, and a
panel of experts with different bias and noise (one careless) who label some lots.

Prices are generated in USD on the hammer basis and converted to each sale's currency with the same FX table
the pipeline uses (``gbv.normalize.fx``), so a round trip through crawl -> staging reproduces them.
"""

from __future__ import annotations

import datetime as dt
import math
import zlib
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from gbv.contracts import CATALOGUE_COLUMNS, LABEL_COLUMNS, LABEL_OPTIONAL_COLUMNS, LOT_COLUMNS, STYLES
from gbv.normalize.fx import usd_per_unit

DEFAULT_AS_OF = dt.date(2026, 10, 1)
FIRST_SALE_YEAR = 2016
LAST_SALE_YEAR = 2026
UNSIZED_PERCENT = 5  # share of lots (%) a house catalogues without a size

HOUSES = pd.DataFrame(
    [
        ("harrington", "Harrington & Sons", "London", "GBP", "html", "hammer", "HAR", 0.10),
        ("delacroix", "Delacroix-Vidal", "Paris", "EUR", "api", "premium", "DLV", 0.00),
        ("kestrel", "Kestrel Auctions", "New York", "USD", "api", "premium", "KES", 0.15),
        ("lotus", "Lotus Fine Art", "Hong Kong", "HKD", "html", "hammer", "LOT", -0.05),
    ],
    columns=["house", "auction_house", "city", "currency", "site_format", "price_basis", "prefix", "house_effect"],
)

_FIRST = ["Anna", "Pierre", "Marta", "Jonas", "Yuki", "Li", "Carlos", "Ingrid", "Hugo", "Sofia", "Kenji", "Elena",
          "Tomas", "Clara", "Ravi", "Mei", "Oskar", "Lucia", "Felix", "Amara", "Jean", "Helga", "Wen", "Diego",
          "Nora", "Paul", "Irena", "Sun", "Marcel", "Frida", "Aiko", "Henri", "Greta", "Mateo", "Lena", "Victor"]
_LAST = ["Moreau", "Lindqvist", "Okafor", "Tanaka", "Zhang", "Alvarez", "Brandt", "Costa", "Dubois", "Eriksen",
         "Fischer", "Garnier", "Hoffmann", "Ito", "Jansen", "Kowalski", "Laurent", "Maier", "Novak", "Olsen",
         "Petit", "Quintero", "Rossi", "Schmidt", "Takahashi", "Umeda", "Vidal", "Weber", "Xu", "Yamamoto",
         "Zimmer", "Bauer", "Chen", "Delacourt", "Esposito", "Fontaine", "Gruber", "Haas", "Kim", "Park"]
_NATIONALITIES = ["French", "American", "British", "German", "Chinese", "Japanese", "Spanish", "Italian",
                  "Korean", "Swiss", "Dutch", "Mexican"]
_NAT_WEIGHTS = np.array([14, 18, 12, 10, 9, 6, 6, 7, 4, 4, 5, 5], dtype=float)

MEDIA = {
    "painting": ["Oil on canvas", "Acrylic on canvas", "Oil on panel", "Oil on board"],
    "work_on_paper": ["Gouache on paper", "Watercolour on paper", "Charcoal on paper", "Ink on paper"],
    "print": ["Screenprint in colours", "Lithograph", "Etching", "Woodcut"],
    "photograph": ["Gelatin silver print", "Chromogenic print", "Archival pigment print"],
    "sculpture": ["Bronze with brown patina", "Marble", "Painted steel", "Bronze with green patina"],
}
MEDIUM_EFFECT = {"painting": 0.0, "work_on_paper": -1.0, "print": -1.9, "photograph": -1.5, "sculpture": -0.2}
MEDIUM_SIZE_CM = {"painting": 75, "work_on_paper": 45, "print": 50, "photograph": 45, "sculpture": 55}
SIGNATURE_EFFECT = {"signed_and_dated": 0.08, "signed": 0.05, "monogrammed": 0.02, "unsigned": -0.12}
_TITLE_A = ["Composition", "Untitled", "Portrait of", "Landscape with", "Still Life with", "Study for",
            "Figure in", "Nocturne", "Harbour at", "Garden of", "Woman with", "Abstraction"]
_TITLE_B = ["Blue", "Red Vase", "the Sea", "Evening", "a Horse", "Winter", "Light", "the Artist's Wife", "Two Birds",
            "Morning", "the River", "Lemons", "No. 3", "Grey", "the City", "a Mirror", "Autumn"]
CONDITIONS = ("excellent", "good", "fair", "poor")


def _style_for(birth: int, nationality: str, rng: np.random.Generator) -> str:
    if nationality in ("Chinese", "Japanese", "Korean") and birth >= 1935:
        return "asian_contemporary"
    if birth < 1870:
        return "impressionism" if rng.random() < 0.7 else "old_master"
    if birth < 1895:
        return rng.choice(["modernism", "surrealism"], p=[0.7, 0.3])
    if birth < 1925:
        return rng.choice(["abstract_expressionism", "modernism", "surrealism"], p=[0.5, 0.3, 0.2])
    if birth < 1945:
        return rng.choice(["pop_art", "minimalism", "photography"], p=[0.45, 0.35, 0.2])
    return rng.choice(["contemporary", "photography"], p=[0.85, 0.15])


def _round_sig(x: np.ndarray, sig: int = 2) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    mag = np.floor(np.log10(np.maximum(x, 1e-9)))
    factor = 10.0 ** (mag - sig + 1)
    return np.round(x / factor) * factor


def _created_text(year: int, rng_val: float) -> str:
    if rng_val < 0.12:
        return f"c. {year}"
    if rng_val < 0.20:
        return f"{year}-{(year + 2) % 100:02d}"
    return str(year)


def market_index(date: pd.Series) -> np.ndarray:
    """Log market level by time: a slow trend with a cycle (the 'art market index' of the demo world)."""
    t = (pd.to_datetime(date) - pd.Timestamp("2016-01-01")).dt.days.to_numpy() / 365.25
    return 0.03 * t + 0.12 * np.sin(2 * math.pi * t / 7.0)


@dataclass
class World:
    """The generated market. DataFrames, all deterministic for (n_lots, seed, as_of)."""

    seed: int
    as_of: dt.date
    houses: pd.DataFrame
    artists: pd.DataFrame
    artworks: pd.DataFrame
    sales: pd.DataFrame
    truth: pd.DataFrame  # every lot with its realised outcome, regardless of as_of
    experts: pd.DataFrame
    all_labels: pd.DataFrame

    @cached_property
    def lots(self) -> pd.DataFrame:
        return self.lots_as_of(self.as_of)

    @cached_property
    def labels(self) -> pd.DataFrame:
        return self.labels_as_of(self.as_of)

    def lots_as_of(self, as_of: dt.date) -> pd.DataFrame:
        """Lots as a crawler would see them on the night ``as_of``: future sales have no result yet."""
        lots = self.truth.copy()
        upcoming = lots["sale_date"] >= as_of
        lots.loc[upcoming, "status"] = "upcoming"
        for col in ("hammer_price", "hammer_usd"):
            lots.loc[upcoming, col] = np.nan
        return lots[list(LOT_COLUMNS)].reset_index(drop=True)

    def labels_as_of(self, as_of: dt.date) -> pd.DataFrame:
        """Every label submitted before the night ``as_of`` (the labelling tool's full export)."""
        cutoff = pd.Timestamp(as_of)
        submitted = pd.to_datetime(self.all_labels["submitted_at"], errors="coerce", utc=True).dt.tz_localize(None)
        keep = (submitted < cutoff) | submitted.isna()
        return self.all_labels[keep].reset_index(drop=True)

    def catalogue(self, as_of: dt.date | None = None, house: str | None = None) -> pd.DataFrame:
        """Upcoming lots in the catalogue intake format (what a house sends to be valued)."""
        lots = self.lots_as_of(as_of or self.as_of)
        lots = lots[lots["status"] == "upcoming"]
        if house:
            lots = lots[lots["house"] == house]
        out = pd.DataFrame({
            "lot_ref": lots["lot_ref"], "auction_house": lots["auction_house"],
            "sale_location": lots["sale_location"], "sale_date": lots["sale_date"].astype(str),
            "sale_currency": lots["sale_currency"], "lot_number": lots["lot_number"],
            "artist_name": lots["artist_name"], "artist_birth_year": lots["artist_birth_year"],
            "artist_death_year": lots["artist_death_year"], "artist_nationality": lots["artist_nationality"],
            "title": lots["title"], "medium": lots["medium"], "year_created": lots["year_created"],
            "created_text": lots["year_created"].astype("Int64").astype(str),
            "height_cm": lots["height_cm"], "width_cm": lots["width_cm"], "depth_cm": lots["depth_cm"],
            "signature": lots["signature"], "description": lots["description"], "edition": lots["edition"],
            "image_url": lots["image_url"], "sale_title": lots["sale_title"],
        })
        return out[list(CATALOGUE_COLUMNS)].reset_index(drop=True)


def generate_world(n_lots: int = 3000, seed: int = 7, as_of: dt.date = DEFAULT_AS_OF,
                   n_experts: int = 8) -> World:
    """Generate the demo market. ``n_lots`` is the total number of lots offered 2016-2026."""
    if n_lots < 50:
        raise ValueError(f"n_lots must be at least 50, got {n_lots}")
    rng = np.random.default_rng(seed)
    artists = _artists(rng, n_artists=int(min(300, max(40, n_lots // 10))))
    sales = _sales(rng)
    truth, artworks = _lots(rng, artists, sales, n_lots)
    experts = _experts(rng, n_experts)
    labels = _labels(rng, truth, artists, experts)
    return World(seed=seed, as_of=as_of, houses=HOUSES.drop(columns=["prefix", "house_effect"]),
                 artists=artists, artworks=artworks, sales=sales, truth=truth, experts=experts,
                 all_labels=labels)


def _artists(rng: np.random.Generator, n_artists: int) -> pd.DataFrame:
    rows, seen = [], set()
    for i in range(n_artists):
        while True:
            name = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
            if name not in seen:
                seen.add(name)
                break
        nationality = str(rng.choice(_NATIONALITIES, p=_NAT_WEIGHTS / _NAT_WEIGHTS.sum()))
        birth = int(rng.integers(1840, 1992))
        death = None
        if birth < 1940 or (birth < 1960 and rng.random() < 0.3):
            death = int(min(2025, birth + rng.integers(45, 96)))
        style = _style_for(birth, nationality, rng)
        level = float(np.clip(rng.normal(4.3, 0.6), 2.8, 6.8))  # log10 of a typical hammer price, USD
        primary = str(rng.choice(list(MEDIA), p=[0.5, 0.2, 0.15, 0.07, 0.08]))
        if style == "photography":
            primary = "photograph"
        rows.append((f"A{i + 1:04d}", name, birth, death, nationality, level, style, primary,
                     float(rng.pareto(1.3) + 0.2)))
    df = pd.DataFrame(rows, columns=["artist_id", "artist_name", "birth_year", "death_year", "nationality",
                                     "market_level", "style", "primary_medium", "popularity"])
    df["death_year"] = df["death_year"].astype("Int64")
    return df


def _sales(rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    for house in HOUSES.itertuples():
        offset = int(rng.integers(0, 2))
        for year in range(FIRST_SALE_YEAR, LAST_SALE_YEAR + 1):
            for month in range(1 + offset, 13, 2):
                day = int(rng.integers(3, 27))
                date = dt.date(year, month, day)
                rows.append((f"{house.prefix}-{year}-{month:02d}-A", house.house, f"{house.auction_house} "
                             f"{_sale_kind(rng)} {date.strftime('%B %Y')}", date, house.city, house.currency))
    return pd.DataFrame(rows, columns=["sale_id", "house", "sale_title", "sale_date", "sale_location",
                                       "sale_currency"]).sort_values(["sale_date", "sale_id"]).reset_index(drop=True)


def _sale_kind(rng: np.random.Generator) -> str:
    return str(rng.choice(["Modern & Contemporary Art", "Impressionist & Modern Art", "Prints & Multiples",
                           "Post-War Art", "Fine Art"]))


def _lots(rng: np.random.Generator, artists: pd.DataFrame, sales: pd.DataFrame,
          n_lots: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    n_sales = len(sales)
    sale_idx = np.sort(rng.integers(0, n_sales, size=n_lots))
    sale = sales.iloc[sale_idx].reset_index(drop=True)
    pop = artists["popularity"].to_numpy()
    a_idx = rng.choice(len(artists), size=n_lots, p=pop / pop.sum())
    art = artists.iloc[a_idx].reset_index(drop=True)

    # media: mostly the artist's primary medium
    classes = np.array(list(MEDIA))
    primary = art["primary_medium"].to_numpy()
    other = rng.choice(classes, size=n_lots)
    medium_class = np.where(rng.random(n_lots) < 0.75, primary, other)
    medium = np.array([MEDIA[c][int(rng.integers(0, len(MEDIA[c])))] for c in medium_class])

    base = np.array([MEDIUM_SIZE_CM[c] for c in medium_class], dtype=float)
    height = np.round(base * np.exp(rng.normal(0, 0.45, n_lots)), 1)
    width = np.round(height * np.exp(rng.normal(0, 0.3, n_lots)), 1)
    depth = np.where(medium_class == "sculpture", np.round(height * rng.uniform(0.3, 0.9, n_lots), 1), np.nan)

    birth = art["birth_year"].to_numpy()
    death = art["death_year"].astype("float").to_numpy()
    sale_year = sale["sale_date"].map(lambda d: d.year).to_numpy()
    # a work is made before it is sold (and, for an artist who has died, before the death)
    last_year = np.minimum(np.where(np.isnan(death), np.minimum(2025, sale_year), death), sale_year)
    first_year = birth + 18
    year_created = (first_year + rng.random(n_lots) * np.maximum(last_year - first_year, 1)).astype(int)
    signature = rng.choice(["signed", "signed_and_dated", "monogrammed", "unsigned"], size=n_lots,
                           p=[0.4, 0.3, 0.1, 0.2])
    edition_n = rng.integers(10, 120, n_lots)
    edition = np.where(np.isin(medium_class, ["print", "photograph"]),
                       [f"{int(rng.integers(1, e + 1))}/{e}" for e in edition_n], None)
    titles = [f"{rng.choice(_TITLE_A)} {rng.choice(_TITLE_B)}" for _ in range(n_lots)]

    # hedonic process (log USD, hammer basis)
    area = height * width
    age_at_creation = year_created - birth
    peak = -0.0008 * (age_at_creation - 40.0) ** 2
    sale_dates = sale["sale_date"]
    dead_at_sale = ~np.isnan(death)
    house_effect = sale["house"].map(HOUSES.set_index("house")["house_effect"]).to_numpy()
    log_value = (art["market_level"].to_numpy() * math.log(10)
                 + 0.45 * np.log(area / 5000.0)
                 + np.array([MEDIUM_EFFECT[c] for c in medium_class])
                 + peak + 0.15 * dead_at_sale
                 + np.array([SIGNATURE_EFFECT[s] for s in signature])
                 + house_effect + market_index(sale_dates))
    true_value_usd = np.exp(log_value)
    latent_usd = true_value_usd * np.exp(rng.normal(0, 0.40, n_lots))

    currency = sale["sale_currency"].to_numpy()
    # one rate per sale (a few hundred), spread over its lots
    fx_of_sale = np.array([usd_per_unit(c, d) for c, d in zip(sales["sale_currency"], sales["sale_date"],
                                                             strict=True)], dtype=float)
    fx = fx_of_sale[sale_idx]
    house_guess = true_value_usd * np.exp(rng.normal(0, 0.30, n_lots)) / fx
    est_low = _round_sig(house_guess * 0.8)
    est_high = np.maximum(_round_sig(house_guess * 1.25), est_low * 1.2)
    est_high = _round_sig(est_high)
    reserve = 0.8 * est_low
    latent_local = latent_usd / fx
    sold = latent_local >= reserve
    hammer = np.where(sold, _round_sig(np.maximum(latent_local, reserve), 3), np.nan)

    lot_number = sale.groupby("sale_id").cumcount().to_numpy() + 1
    lot_ref = [f"{h}-{s}-{n:04d}" for h, s, n in zip(sale["house"], sale["sale_id"], lot_number, strict=True)]
    artwork_id = [f"W{i + 1:06d}" for i in range(n_lots)]
    # about one lot in twenty is catalogued without its size (as real catalogues often are); its price still
    # follows the work's real size, so the model knows less about it. Chosen from the lot ref, not drawn: the
    # world's random draws (and so every other value of a seed's world) are as before.
    unsized = np.array([zlib.crc32(ref.encode()) % 100 < UNSIZED_PERCENT for ref in lot_ref])
    height, width, depth = (np.where(unsized, np.nan, a) for a in (height, width, depth))
    dims_txt = ["" if np.isnan(h) else f", {h:g} x {w:g} cm" if np.isnan(d) else f", {h:g} x {w:g} x {d:g} cm"
                for h, w, d in zip(height, width, depth, strict=True)]
    description = [
        f"{a}, {t}. {m}{dim}. {s.replace('_', ' ').capitalize()}. Executed in {y}."
        f" Provenance: private collection, {n}." for a, t, m, dim, s, y, n in
        zip(art["artist_name"], titles, medium, dims_txt, signature, year_created, art["nationality"], strict=True)]
    houses = HOUSES.set_index("house")
    truth = pd.DataFrame({
        "lot_ref": lot_ref, "source": ["demo_" + h for h in sale["house"]], "house": sale["house"],
        "auction_house": sale["house"].map(houses["auction_house"]), "sale_id": sale["sale_id"],
        "sale_title": sale["sale_title"], "sale_date": sale_dates, "sale_location": sale["sale_location"],
        "sale_currency": currency, "lot_number": lot_number,
        "artist_id": art["artist_id"], "artist_name": art["artist_name"], "artist_birth_year": birth,
        "artist_death_year": art["death_year"], "artist_nationality": art["nationality"],
        "artwork_id": artwork_id, "title": titles, "medium": medium, "medium_class": medium_class,
        "year_created": year_created, "height_cm": height, "width_cm": width, "depth_cm": depth,
        "signature": signature, "description": description, "edition": edition,
        "image_url": [f"https://images.gbv.example/{w}.jpg" for w in artwork_id],
        "estimate_low": est_low, "estimate_high": est_high, "hammer_price": hammer, "fx_usd": fx,
        "estimate_low_usd": est_low * fx, "estimate_high_usd": est_high * fx, "hammer_usd": hammer * fx,
        "status": np.where(sold, "sold", "bought_in"),
        "true_value_usd": true_value_usd,
    })
    artworks = truth[["artwork_id", "artist_id", "title", "medium", "medium_class", "year_created", "height_cm",
                      "width_cm", "depth_cm", "signature", "description", "edition", "image_url"]].copy()
    return truth, artworks


def _experts(rng: np.random.Generator, n_experts: int) -> pd.DataFrame:
    specialities = ["Impressionist & Modern", "Post-War & Contemporary", "Prints", "Photographs", "Asian Art",
                    "Sculpture", "Old Masters", "Design"]
    rows = []
    for i in range(n_experts):
        careless = i == n_experts - 1
        rows.append((f"E{i + 1:03d}", f"Expert {i + 1}", specialities[i % len(specialities)],
                     dt.date(2015, 1, 1) + dt.timedelta(days=int(rng.integers(0, 400))),
                     0.35 if careless else float(rng.normal(0, 0.12)),
                     1.0 if careless else float(rng.uniform(0.15, 0.45)), careless))
    return pd.DataFrame(rows, columns=["expert_id", "display_name", "speciality", "joined_at", "bias", "noise",
                                       "careless"])


def _labels(rng: np.random.Generator, truth: pd.DataFrame, artists: pd.DataFrame,
            experts: pd.DataFrame) -> pd.DataFrame:
    n = len(truth)
    labelled = np.sort(rng.choice(n, size=max(10, int(0.18 * n)), replace=False))
    style_of = dict(zip(artists["artist_id"], artists["style"], strict=True))
    # plain Python values, read once (per-row pandas indexing dominated the run time); the random draws are
    # made in exactly the same order as before, so a seed gives the same labels
    lot_cols = ("lot_ref", "true_value_usd", "sale_currency", "fx_usd", "artist_id", "sale_date")
    lot_vals = {c: truth[c].to_numpy(dtype=object)[labelled].tolist() for c in lot_cols}
    expert_rows = list(experts[["expert_id", "bias", "noise", "careless"]].itertuples(index=False, name=None))
    n_experts, max_k = len(experts), min(4, len(experts)) + 1
    nine = dt.time(9)
    cols: dict[str, list] = {c: [] for c in ("lot_ref", "expert_id", "raw_point", "currency", "submitted_at",
                                             "style", "attribution_confidence", "condition", "_careless")}
    for j in range(len(labelled)):
        lot_ref, true_value, sale_currency, fx_usd, artist_id, sale_date = (lot_vals[c][j] for c in lot_cols)
        k = int(rng.integers(1, max_k))
        for pos in rng.choice(n_experts, size=k, replace=False):
            expert_id, bias, noise, careless = expert_rows[pos]
            point_usd = true_value * math.exp(bias + rng.normal(0, noise))
            in_usd = rng.random() < 0.3
            rate = 1.0 if in_usd else fx_usd
            cols["raw_point"].append(point_usd / rate)
            cols["currency"].append("USD" if in_usd else sale_currency)
            true_style = style_of[artist_id]
            cols["style"].append(true_style if rng.random() > (0.6 if careless else 0.12)
                                 else str(rng.choice(STYLES)))
            days_before = int(rng.integers(2, 90))
            when = dt.datetime.combine(sale_date, nine) - dt.timedelta(
                days=days_before, seconds=int(rng.integers(0, 36000)))
            cols["lot_ref"].append(lot_ref)
            cols["expert_id"].append(expert_id)
            cols["submitted_at"].append(when.isoformat(timespec="seconds") + "Z")
            cols["attribution_confidence"].append(round(float(rng.uniform(0.55, 1.0)), 2))
            cols["condition"].append(str(rng.choice(CONDITIONS, p=[0.3, 0.45, 0.2, 0.05])))
            cols["_careless"].append(bool(careless))
    point = _round_sig(np.array(cols.pop("raw_point"), dtype=float), 2)  # elementwise: as one value at a time
    low, high = _round_sig(point * 0.8, 2), _round_sig(point * 1.25, 2)
    df = pd.DataFrame({"lot_ref": cols["lot_ref"], "expert_id": cols["expert_id"], "value_low": low,
                       "value_point": point, "value_high": high, "currency": cols["currency"],
                       "submitted_at": cols["submitted_at"], "style": cols["style"],
                       "attribution_confidence": cols["attribution_confidence"], "condition": cols["condition"],
                       "comment": "", "_careless": cols["_careless"]})
    # the careless expert also makes outright mistakes
    careless_idx = df.index[df["_careless"]].to_numpy()
    bad = rng.choice(careless_idx, size=max(4, len(careless_idx) // 8), replace=False) if len(careless_idx) else []
    for j, i in enumerate(bad):
        kind = j % 4
        if kind == 0:
            df.loc[i, "value_point"] = -abs(df.loc[i, "value_point"])
            df.loc[i, "comment"] = "typo"
        elif kind == 1:
            df.loc[i, ["value_low", "value_point"]] = [df.loc[i, "value_point"] * 2, df.loc[i, "value_point"]]
        elif kind == 2:
            df.loc[i, "style"] = "baroque-ish"
    df["label_id"] = [f"L{i + 1:06d}" for i in range(len(df))]
    extra = []
    for j, i in enumerate(bad):
        if j % 4 == 3:  # submitted twice: the same label id again
            extra.append(df.loc[i].copy())
    unknown = df.iloc[0].copy()
    unknown["expert_id"], unknown["label_id"] = "E999", f"L{len(df) + 1:06d}"
    extra.append(unknown)
    df = pd.concat([df, pd.DataFrame(extra)], ignore_index=True)
    cols = list(LABEL_COLUMNS) + list(LABEL_OPTIONAL_COLUMNS)
    return df.sort_values(["submitted_at", "label_id"], kind="stable")[cols].reset_index(drop=True)


class DemoWorldMismatch(RuntimeError):
    """GBV_HOME already holds a demo world generated with other parameters."""


_CACHE: dict[tuple[int, int], World] = {}


def world_params(settings, n_lots: int | None = None) -> tuple[int, int]:  # noqa: ANN001 - gbv.settings.Settings
    """(lots, seed) of a GBV_HOME's demo world, recorded in ``demo/world.json`` the first time.

    Every later night of the same home uses the recorded parameters, so a home never mixes two worlds; asking
    for a different size raises :class:`DemoWorldMismatch` with what to do instead.
    """
    import json

    record = settings.demo_dir / "world.json"
    wanted = {"n_lots": int(n_lots or settings.demo_lots), "seed": int(settings.seed)}
    if record.exists():
        recorded = json.loads(record.read_text())
        if n_lots is not None and recorded != wanted:
            raise DemoWorldMismatch(
                f"{settings.home} already holds a demo world of {recorded['n_lots']} lots (seed "
                f"{recorded['seed']}); use another GBV_HOME or remove this one (make clean) to build "
                f"{wanted['n_lots']} lots")
        wanted = recorded
    else:
        record.parent.mkdir(parents=True, exist_ok=True)
        tmp = record.with_suffix(".tmp")
        tmp.write_text(json.dumps(wanted, sort_keys=True) + "\n")
        tmp.replace(record)
    return wanted["n_lots"], wanted["seed"]


def world_for_home(settings, n_lots: int | None = None) -> World:  # noqa: ANN001 - gbv.settings.Settings
    """The demo world of a GBV_HOME (see :func:`world_params`), generated once per process."""
    key = world_params(settings, n_lots)
    if key not in _CACHE:
        _CACHE[key] = generate_world(n_lots=key[0], seed=key[1])
    return _CACHE[key]


def forget_worlds() -> None:
    """Drop this process's cached worlds (a million-lot world holds over a gigabyte)."""
    _CACHE.clear()
