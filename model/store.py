"""Model store: versioned artifacts on disk plus the ``dim_model`` registry (like project_ml's ModelStore).

Layout under ``models_dir``::

    <version>/artifact/...   what Valuer.save wrote (byte-deterministic)
    <version>/card.json      kind, data window, parameters, fit info, hardware, training seconds
    <version>/_COMPLETE      written last, before the folder is renamed into place
    <version>/MODEL_CARD.md  the card and the registry row in words (model.card), rewritten on every status change
    .tmp-<kind>-<uuid>/      work in progress; never listed or loaded, swept by the next save

A version is ``<kind>-<YYYYMMDD>-<8 hex of the artifact's sha256>`` where the date is the card's ``as_of``
(the snapshot date), so re-training on the same snapshot yields the same version. The folder is complete before
the atomic rename, and the registry row is inserted only after it: ``dim_model`` never points at a
half-written artifact. Status moves challenger -> champion | rejected, champion -> retired (on promotion of
another), all in single transactions.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import uuid
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine, select, update

from gbv.faults import fault_point
from model.base import Valuer, valuer_class
from warehouse.schema import dim_model

log = logging.getLogger(__name__)

COMPLETE_MARKER = "_COMPLETE"
STATUSES = ("challenger", "champion", "retired", "rejected")


class ModelNotFound(LookupError):
    pass


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def _fsync_tree(root: Path) -> None:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
    _fsync_dir(root)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def content_hash(directory: Path) -> str:
    """sha256 over the relative paths and bytes of every file under ``directory``."""
    h = hashlib.sha256()
    for path in sorted(p for p in Path(directory).rglob("*") if p.is_file()):
        h.update(path.relative_to(directory).as_posix().encode() + b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def _date(value) -> dt.date | None:  # noqa: ANN001
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _json(obj) -> str:  # noqa: ANN001
    return json.dumps(obj, sort_keys=True, default=str)


class ModelStore:
    """Artifacts in ``models_dir`` and their registry rows in ``dim_model`` on ``engine``."""

    def __init__(self, models_dir: Path, engine: Engine):
        self.models_dir = Path(models_dir)
        self.engine = engine

    # ---- writing ----------------------------------------------------------------------------------------
    def save_model(self, valuer: Valuer, card: dict) -> str:
        """Write the artifact atomically and register it as a challenger; returns its version."""
        self.models_dir.mkdir(parents=True, exist_ok=True)
        self._sweep_tmp()
        tmp = self.models_dir / f".tmp-{valuer.kind}-{uuid.uuid4().hex}"
        try:
            (tmp / "artifact").mkdir(parents=True)
            valuer.save(tmp / "artifact")
            digest = content_hash(tmp / "artifact")
            day = _date(card.get("as_of")) or _utcnow().date()
            version = f"{valuer.kind}-{day:%Y%m%d}-{digest[:8]}"
            full_card = {**card, "model_version": version, "kind": valuer.kind, "artifact_sha256": digest}
            (tmp / "card.json").write_text(json.dumps(full_card, indent=1, sort_keys=True, default=str) + "\n",
                                           encoding="utf-8")
            _fsync_tree(tmp)
            (tmp / COMPLETE_MARKER).write_text(version + "\n", encoding="utf-8")
            _fsync_tree(tmp)
            final = self.models_dir / version
            if (final / COMPLETE_MARKER).exists():
                log.info("model %s already stored (same content); keeping the existing folder", version)
                shutil.rmtree(tmp)
                full_card = json.loads((final / "card.json").read_text(encoding="utf-8"))
            else:
                if final.exists():  # a folder without the marker cannot be ours; move it out of the way
                    shutil.rmtree(final)
                os.replace(tmp, final)
                _fsync_dir(self.models_dir)
                fault_point("model_renamed")  # complete on disk, not yet in dim_model
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self._register(version, valuer.kind, full_card, final)
        self._refresh_card(version)
        fault_point("model_registered")  # a challenger row, not yet evaluated or promoted
        log.info("saved model %s to %s", version, final)
        return version

    def _register(self, version: str, kind: str, card: dict, path: Path) -> None:
        with self.engine.begin() as conn:
            exists = conn.execute(select(dim_model.c.model_version)
                                  .where(dim_model.c.model_version == version)).first()
            if exists:
                return
            conn.execute(dim_model.insert().values(
                model_version=version, kind=kind, status="challenger", created_at=_utcnow(), promoted_at=None,
                train_until=_date(card.get("train_until")), holdout_from=_date(card.get("holdout_from")),
                artifact_path=str(path), metrics_json=_json(card.get("metrics") or {}),
                params_json=_json(card.get("params") or {}), hardware=str(card.get("hardware") or ""),
            ))

    def _sweep_tmp(self) -> None:
        """Remove work-in-progress folders older than an hour (left by a crash)."""
        cutoff = dt.datetime.now().timestamp() - 3600
        for tmp in self.models_dir.glob(".tmp-*"):
            try:
                if tmp.stat().st_mtime < cutoff:
                    shutil.rmtree(tmp, ignore_errors=True)
            except FileNotFoundError:  # pragma: no cover - a concurrent sweep
                pass

    # ---- reading ----------------------------------------------------------------------------------------
    def model_dir(self, version: str) -> Path:
        if not version or version.startswith(".") or "/" in version or "\\" in version:
            raise ModelNotFound(f"not a model version: {version!r}")
        path = self.models_dir / version
        if not (path / COMPLETE_MARKER).is_file():
            raise ModelNotFound(f"model {version} has no complete artifact under {self.models_dir}")
        return path

    def card(self, version: str) -> dict:
        return json.loads((self.model_dir(version) / "card.json").read_text(encoding="utf-8"))

    def load_model(self, version: str) -> Valuer:
        path = self.model_dir(version)
        card = json.loads((path / "card.json").read_text(encoding="utf-8"))
        return valuer_class(card["kind"]).load(path / "artifact")

    def list_models(self) -> pd.DataFrame:
        """Registered versions whose artifact is complete, oldest first (``.tmp-*`` folders never appear)."""
        with self.engine.connect() as conn:
            df = pd.read_sql(select(dim_model).order_by(dim_model.c.created_at, dim_model.c.model_version), conn)
        complete = [(self.models_dir / v / COMPLETE_MARKER).is_file() for v in df["model_version"]]
        return df[complete].reset_index(drop=True) if len(df) else df

    def status(self, version: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(dim_model.c.status).where(dim_model.c.model_version == version)).scalar()

    def champion_version(self) -> str | None:
        with self.engine.connect() as conn:
            rows = conn.execute(select(dim_model.c.model_version).where(dim_model.c.status == "champion")
                                .order_by(dim_model.c.promoted_at.desc())).scalars().all()
        return rows[0] if rows else None

    def champion(self) -> tuple[str, Valuer] | None:
        version = self.champion_version()
        return None if version is None else (version, self.load_model(version))

    # ---- status changes ---------------------------------------------------------------------------------
    def promote(self, version: str) -> None:
        """Make ``version`` the champion and retire the previous one, in one transaction."""
        self.model_dir(version)  # never promote a version without a complete artifact
        now = _utcnow()
        with self.engine.begin() as conn:
            if conn.execute(select(dim_model.c.status).where(dim_model.c.model_version == version)).first() is None:
                raise ModelNotFound(f"model {version} is not registered")
            retired = conn.execute(select(dim_model.c.model_version).where(dim_model.c.status == "champion")
                                   .where(dim_model.c.model_version != version)).scalars().all()
            conn.execute(update(dim_model).where(dim_model.c.status == "champion")
                         .where(dim_model.c.model_version != version).values(status="retired"))
            conn.execute(update(dim_model).where(dim_model.c.model_version == version)
                         .values(status="champion", promoted_at=now))
        log.info("promoted %s to champion", version)
        for v in [version, *retired]:
            self._refresh_card(v)

    def reject(self, version: str, reason: str) -> None:
        """Mark a challenger rejected; the reason is kept in ``metrics_json['rejected_reason']``."""
        with self.engine.begin() as conn:
            row = conn.execute(select(dim_model.c.status, dim_model.c.metrics_json)
                               .where(dim_model.c.model_version == version)).first()
            if row is None:
                raise ModelNotFound(f"model {version} is not registered")
            if row.status == "champion":
                raise ValueError(f"{version} is the champion; promote another model instead of rejecting it")
            metrics = json.loads(row.metrics_json or "{}")
            metrics["rejected_reason"] = reason
            conn.execute(update(dim_model).where(dim_model.c.model_version == version)
                         .values(status="rejected", metrics_json=_json(metrics)))
        log.info("rejected %s: %s", version, reason)
        self._refresh_card(version)

    def record_metrics(self, version: str, metrics: dict) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(dim_model).where(dim_model.c.model_version == version)
                         .values(metrics_json=_json(metrics)))
        self._refresh_card(version)

    # ---- model cards ------------------------------------------------------------------------------------
    def registry_row(self, version: str) -> dict | None:
        """``version``'s ``dim_model`` row as a dict; None when it is not registered here."""
        with self.engine.connect() as conn:
            row = conn.execute(select(dim_model).where(dim_model.c.model_version == version)).mappings().first()
        return dict(row) if row is not None else None

    def write_model_card(self, version: str) -> str:
        """Render ``version``'s model card from its ``card.json`` and registry row (:mod:`model.card`), write it
        to ``<version>/MODEL_CARD.md`` (atomically) and return it."""
        from model.card import CARD_FILE, render_model_card

        path = self.model_dir(version)
        text = render_model_card(self.card(version), self.registry_row(version))
        tmp = path / f".{CARD_FILE}.{uuid.uuid4().hex}.tmp"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path / CARD_FILE)
        return text

    def _refresh_card(self, version: str) -> None:
        """The card follows every registry change; it is a rendering of the registry, so failing to write it
        never undoes the change (``gbv models --card VERSION`` writes it again)."""
        try:
            self.write_model_card(version)
        except Exception as exc:  # noqa: BLE001 - the registry change stands; the card is derived from it
            log.warning("could not write the model card of %s: %s", version, exc)
