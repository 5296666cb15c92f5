"""The dbt project of the marts (``warehouse/dbt``): where it is, how dbt reaches the configured warehouse,
its manifest, and running dbt from the CLI.

dbt reads the warehouse through the profile ``gbv`` in ``warehouse/dbt/profiles.yml``; its targets are named
like the environments: ``LOCAL`` (dbt-duckdb on the DuckDB file) and ``PROD`` (dbt-postgres). The target
follows the warehouse URL's dialect (a PostgreSQL URL uses ``PROD`` even when GBV_ENV is LOCAL, as the tests
do). Connection details reach dbt only as environment variables (``GBV_DBT_*``) set for the dbt process from
the warehouse URL: the password never lands in a file.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path

from gbv.settings import Settings

log = logging.getLogger(__name__)

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "warehouse" / "dbt"
MANIFEST_PATH = DBT_PROJECT_DIR / "target" / "manifest.json"


class DbtFailed(RuntimeError):
    """A dbt command exited non-zero; the message holds the failing nodes from dbt's output."""


def dbt_executable() -> str:
    exe = Path(sys.executable).with_name("dbt")
    return str(exe) if exe.exists() else (shutil.which("dbt") or "dbt")


def dbt_target(settings: Settings) -> str:
    """``LOCAL`` for a DuckDB warehouse, ``PROD`` for PostgreSQL."""
    url = settings.warehouse_url
    if url.startswith("duckdb"):
        return "LOCAL"
    if url.startswith(("postgresql", "postgres")):
        return "PROD"
    raise ValueError(f"the marts run on DuckDB or PostgreSQL; GBV_WAREHOUSE_URL is {url.split(':')[0]}://…")


def dbt_env(settings: Settings) -> dict[str, str]:
    """Environment variables the profile reads for this warehouse (``GBV_DBT_TARGET`` and connection)."""
    from sqlalchemy.engine import make_url

    from warehouse.db import normalise_url

    target = dbt_target(settings)
    env = {"GBV_DBT_TARGET": target, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    if target == "LOCAL":
        path = settings.warehouse_url.split("///", 1)[1] if "///" in settings.warehouse_url else ""
        if not path or path == ":memory:":
            raise ValueError("the marts need a DuckDB file, not an in-memory database")
        env["GBV_DBT_DUCKDB_PATH"] = str(Path(path).resolve())
        return env
    url = make_url(normalise_url(settings.warehouse_url))
    schema = "public"
    options = url.query.get("options") or ""
    options = options if isinstance(options, str) else " ".join(options)
    for part in options.split():
        if part.startswith("-csearch_path="):
            schema = part.split("=", 1)[1].split(",")[0].strip('"')
    env.update({
        "GBV_DBT_PG_HOST": url.host or "127.0.0.1", "GBV_DBT_PG_PORT": str(url.port or 5432),
        "GBV_DBT_PG_USER": url.username or "postgres", "GBV_DBT_PG_PASSWORD": url.password or "",
        "GBV_DBT_PG_DBNAME": url.database or "postgres", "GBV_DBT_PG_SCHEMA": schema,
    })
    return env


def apply_dbt_env(settings: Settings) -> None:
    """Put :func:`dbt_env` into this process's environment (dagster-dbt passes os.environ to dbt)."""
    os.environ.update(dbt_env(settings))


def _project_files() -> list[Path]:
    files = [DBT_PROJECT_DIR / "dbt_project.yml", DBT_PROJECT_DIR / "profiles.yml"]
    for sub in ("models", "macros", "tests", "seeds"):
        files += [p for p in (DBT_PROJECT_DIR / sub).rglob("*") if p.is_file()]
    return files


def manifest_is_stale() -> bool:
    if not MANIFEST_PATH.exists():
        return True
    built = MANIFEST_PATH.stat().st_mtime
    return any(p.stat().st_mtime > built for p in _project_files())


def ensure_manifest() -> Path:
    """``warehouse/dbt/target/manifest.json`` for ``@dbt_assets``: parsed again (``dbt parse``) when missing or
    older than a project file. Parsing needs no database. Safe when several processes load the code at once
    (a file lock, and the manifest is moved into place whole)."""
    from filelock import FileLock

    if not manifest_is_stale():
        return MANIFEST_PATH
    MANIFEST_PATH.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(MANIFEST_PATH.parent / ".parse.lock"), timeout=300):
        if not manifest_is_stale():
            return MANIFEST_PATH
        tmp = MANIFEST_PATH.parent / f".parse-{uuid.uuid4().hex[:8]}"
        env = {**os.environ, "GBV_DBT_TARGET": "LOCAL", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
               "GBV_DBT_DUCKDB_PATH": os.environ.get("GBV_DBT_DUCKDB_PATH", str(tmp / "parse.duckdb"))}
        try:
            proc = subprocess.run(
                [dbt_executable(), "parse", "--quiet", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir",
                 str(DBT_PROJECT_DIR), "--target-path", str(tmp), "--log-path", str(tmp), "--no-partial-parse"],
                env=env, capture_output=True, text=True, timeout=600)
            if proc.returncode != 0 or not (tmp / "manifest.json").exists():
                raise DbtFailed(f"dbt parse of {DBT_PROJECT_DIR} failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
            os.replace(tmp / "manifest.json", MANIFEST_PATH)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    log.info("dbt manifest parsed: %s", MANIFEST_PATH)
    return MANIFEST_PATH


def target_dir(settings: Settings) -> Path:
    """Where a dbt run of this GBV_HOME writes its artifacts (never inside the repository)."""
    return settings.home / "dbt" / "target"


def run_dbt(settings: Settings, args: Sequence[str], *, quiet: bool = False) -> subprocess.CompletedProcess:
    """Run ``dbt ARGS`` against the configured warehouse; raises :class:`DbtFailed` with dbt's errors.

    On DuckDB the caller must not hold the file: pooled engines are disposed first.
    """
    from warehouse.db import dispose_engines

    dispose_engines()
    out = target_dir(settings)
    out.mkdir(parents=True, exist_ok=True)
    cmd = [dbt_executable(), *args, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
           "--target-path", str(out), "--log-path", str(out)]
    env = {**os.environ, **dbt_env(settings)}
    log.info("dbt %s (target %s)", " ".join(args), env["GBV_DBT_TARGET"])
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3600)
    if not quiet:
        sys.stdout.write(proc.stdout)
    if proc.returncode != 0:
        lines = [ln for ln in proc.stdout.splitlines() if any(w in ln for w in ("ERROR", "FAIL", "Error", "error"))]
        raise DbtFailed(f"dbt {' '.join(args)} failed (exit {proc.returncode}):\n" + "\n".join(lines[-30:])
                        + ("\n" + proc.stderr[-2000:] if proc.stderr.strip() else ""))
    return proc


def publish_docs(settings: Settings, source: Path | None = None) -> Path:
    """Copy the static dbt docs page (``static_index.html``, one self-contained file) and the artifacts to
    ``$GBV_HOME/dbt_docs/`` (``index.html`` opens without a web server)."""
    source = source or target_dir(settings)
    dest = settings.home / "dbt_docs"
    staging = dest.with_name(f".dbt_docs-{uuid.uuid4().hex[:8]}")
    staging.mkdir(parents=True)
    static = source / "static_index.html"
    if not static.exists():
        raise FileNotFoundError(f"no static dbt docs page at {static}: run `dbt docs generate --static` first")
    shutil.copy2(static, staging / "index.html")
    for name in ("manifest.json", "catalog.json"):
        if (source / name).exists():
            shutil.copy2(source / name, staging / name)
    if dest.exists():
        shutil.rmtree(dest)
    os.replace(staging, dest)
    return dest / "index.html"


def compute_price_index(settings: Settings, run_date: str) -> dict:
    """Estimate every index series from the warehouse's sales and store them (fact_price_index)."""
    from gbv.market.index import build_indices, read_sales, store_indices
    from warehouse.db import dispose_engines, get_engine

    engine = get_engine(settings)
    try:
        build = build_indices(read_sales(engine))
        rows = store_indices(engine, build, run_date)
    finally:
        dispose_engines()  # the DuckDB file must be free for dbt
    return {"rows": rows, "gaps": int(build.index["is_gap"].sum()) if rows else 0,
            "repeat_sale_pairs": len(build.pairs), "artist_levels": len(build.artist_levels),
            "seconds": round(build.seconds, 2)}


def build_marts(settings: Settings, run_date: str, *, docs: bool = True, quiet: bool = False) -> dict:
    """The marts outside Dagster: price index, ``dbt build`` (models + tests), and the docs site."""
    info = {"price_index": compute_price_index(settings, run_date)}
    run_dbt(settings, ["build"], quiet=quiet)
    if docs:
        info["docs"] = str(generate_docs(settings, quiet=quiet))
    return info


def generate_docs(settings: Settings, *, quiet: bool = False) -> Path:
    """``dbt docs generate --static`` against the warehouse, published to ``$GBV_HOME/dbt_docs/index.html``."""
    run_dbt(settings, ["docs", "generate", "--static"], quiet=quiet)
    return publish_docs(settings)
