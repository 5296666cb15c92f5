"""One typed settings object, read from environment variables with safe local defaults.

Every path the system writes lives under ``GBV_HOME`` (default ``.gbv`` in the working directory), so two
homes never share state. ``GBV_WAREHOUSE_URL`` moves the warehouse elsewhere (PostgreSQL in production).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class UnsafeName(ValueError):
    """A name meant for a path component (house, source, date) would escape its folder."""


def safe_component(name: str, what: str = "name") -> str:
    """Return ``name`` if it is safe as a single path component, else raise :class:`UnsafeName`.

    Rejects ``..``, separators, absolute paths, NUL and anything outside ``[A-Za-z0-9._-]``.
    """
    if not isinstance(name, str) or not _SAFE_NAME.match(name) or ".." in name:
        raise UnsafeName(f"unsafe {what} for a path component: {name!r}")
    return name


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"environment variable {name} must be an integer, got {raw!r}") from exc


@dataclass(frozen=True)
class Settings:
    home: Path
    warehouse_url: str
    env: str = "LOCAL"  # LOCAL | PROD
    seed: int = 7
    demo_lots: int = 3000
    device: str = "auto"  # auto | cpu | cuda
    expert_salt: str = "gbv-local-dev-salt"

    # ---- folders under GBV_HOME -------------------------------------------------------------
    @property
    def raw_dir(self) -> Path:
        return self.home / "raw"

    @property
    def stage_dir(self) -> Path:
        return self.home / "stage"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def feeds_dir(self) -> Path:
        return self.home / "feeds"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def data_docs_dir(self) -> Path:
        return self.home / "data_docs"

    @property
    def gx_dir(self) -> Path:
        return self.home / "gx"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    @property
    def crawl_jobs_dir(self) -> Path:
        return self.home / "crawl_jobs"

    @property
    def demo_dir(self) -> Path:
        return self.home / "demo"

    @property
    def is_duckdb(self) -> bool:
        return self.warehouse_url.startswith("duckdb")

    def raw_path(self, source: str, run_date: str) -> Path:
        """Folder of the landing zone for one source and run date (both checked as path components)."""
        return self.raw_dir / safe_component(source, "source") / safe_component(run_date, "run date")

    def feed_path(self, house: str, run_date: str) -> Path:
        return self.feeds_dir / safe_component(house, "house") / safe_component(run_date, "run date")

    def ensure_dirs(self) -> Settings:
        for p in (self.home, self.raw_dir, self.stage_dir, self.models_dir, self.feeds_dir, self.reports_dir,
                  self.data_docs_dir, self.dagster_home):
            p.mkdir(parents=True, exist_ok=True)
        return self


def get_settings() -> Settings:
    """Read settings from the environment (call it where needed; it is cheap)."""
    home = Path(os.environ.get("GBV_HOME") or ".gbv").expanduser().resolve()
    url = os.environ.get("GBV_WAREHOUSE_URL") or f"duckdb:///{home / 'warehouse.duckdb'}"
    env = (os.environ.get("GBV_ENV") or "LOCAL").upper()
    if env not in {"LOCAL", "PROD"}:
        raise ValueError(f"GBV_ENV must be LOCAL or PROD, got {env!r}")
    device = (os.environ.get("GBV_DEVICE") or "auto").lower()
    if device not in {"auto", "cpu", "cuda"}:
        raise ValueError(f"GBV_DEVICE must be auto, cpu or cuda, got {device!r}")
    return Settings(
        home=home,
        warehouse_url=url,
        env=env,
        seed=_env_int("GBV_SEED", 7),
        demo_lots=_env_int("GBV_DEMO_LOTS", 3000),
        device=device,
        expert_salt=os.environ.get("GBV_EXPERT_SALT") or "gbv-local-dev-salt",
    )
