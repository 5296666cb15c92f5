"""Run crawls from Python (the Dagster crawl assets, the CLI, the tests) and read what they landed.

Each crawl runs in its own subprocess (``python -m crawlers.crawl ...``): Scrapy's Twisted reactor cannot be
restarted inside one process, and a subprocess also keeps a crawler's memory and signal handling away from the
orchestrator. A crawl keeps its Scrapy JOBDIR under ``$GBV_HOME/crawl_jobs/<source>/<run_date>`` until it lands,
so one that was interrupted (timeout, Ctrl-C, a lost machine) resumes where it stopped; its log goes to
``$GBV_HOME/crawl_jobs/<source>/<run_date>.log``. The landing for (source, run date) is written once: when its
``_SUCCESS`` exists, ``run_crawl`` does not crawl again and returns ``skipped=True`` (the landing is replayed).
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from filelock import FileLock

from crawlers.pipelines.landing import LOTS_FILE, REJECTS_FILE, SUCCESS_FILE
from gbv.settings import Settings, get_settings, safe_component

log = logging.getLogger(__name__)

SPIDER_FOR_SITE_FORMAT = {"html": "demo_html", "api": "demo_api"}
SPIDERS = frozenset(SPIDER_FOR_SITE_FORMAT.values())
STDERR_TAIL_LINES = 30
GRACEFUL_STOP_S = 30.0


class CrawlError(RuntimeError):
    """A crawl subprocess failed (non-zero exit or timeout); the message names the spider and ends with the
    last lines of its log."""

    def __init__(
        self,
        message: str,
        *,
        spider: str,
        house: str,
        run_date: str,
        returncode: int | None,
        stderr_tail: str = "",
    ):
        super().__init__(message)
        self.spider = spider
        self.house = house
        self.run_date = run_date
        self.returncode = returncode
        self.stderr_tail = stderr_tail


@dataclass(frozen=True)
class CrawlResult:
    source: str  # e.g. "demo_harrington"
    path: Path  # the landing folder $GBV_HOME/raw/<source>/<run_date>
    n_items: int  # lots landed
    n_rejected: int  # rows in rejects.jsonl
    skipped: bool  # True: already landed earlier, not crawled again
    stats: dict[str, Any] = field(default_factory=dict)  # the _SUCCESS stats subset


def source_for(spider: str, house: str) -> str:
    """The source name a spider lands under: ``demo_<house>`` for the demo spiders, the fixed source name of
    each real site's spider (``crawlers.spiders.real_base.REAL_SOURCES``) otherwise."""
    from crawlers.spiders.real_base import REAL_SOURCES

    if spider in REAL_SOURCES:
        return REAL_SOURCES[spider]
    if spider not in SPIDERS:
        raise ValueError(f"unknown spider {spider!r}; known: {sorted(SPIDERS | set(REAL_SOURCES))}")
    return f"demo_{safe_component(house, 'house')}"


def landing_path(source: str, run_date: str, settings: Settings | None = None) -> Path:
    return (settings or get_settings()).raw_path(source, run_date)


def is_landed(source: str, run_date: str, settings: Settings | None = None) -> bool:
    return (landing_path(source, run_date, settings) / SUCCESS_FILE).exists()


def read_success(source: str, run_date: str, settings: Settings | None = None) -> dict[str, Any]:
    path = landing_path(source, run_date, settings) / SUCCESS_FILE
    if not path.exists():
        raise FileNotFoundError(f"no complete landing for {source} on {run_date} ({path} missing)")
    return json.loads(path.read_text(encoding="utf-8"))


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def read_landed(source: str, run_date: str, settings: Settings | None = None) -> list[dict[str, Any]]:
    """The raw lots landed for (source, run date), in file order; raises if the landing is not complete."""
    read_success(source, run_date, settings)  # only complete landings are read
    return _read_jsonl(landing_path(source, run_date, settings) / LOTS_FILE)


def read_rejects(source: str, run_date: str, settings: Settings | None = None) -> list[dict[str, Any]]:
    """What the crawl could not land ({source, url, stage, reason, payload}); raises if not complete."""
    read_success(source, run_date, settings)
    return _read_jsonl(landing_path(source, run_date, settings) / REJECTS_FILE)


def _result_from_success(source: str, path: Path, success: dict[str, Any], skipped: bool) -> CrawlResult:
    return CrawlResult(
        source=source,
        path=path,
        n_items=int(success.get("n_items", 0)),
        n_rejected=int(success.get("n_rejected", 0)),
        skipped=skipped,
        stats=dict(success.get("stats") or {}),
    )


def _tail(path: Path, n: int = STDERR_TAIL_LINES) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64_000))
            lines = fh.read().decode("utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-n:])


def _child_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env["GBV_HOME"] = str(settings.home)
    env["GBV_ENV"] = settings.env
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault(
        "SCRAPY_SETTINGS_MODULE",
        "crawlers.settings.prod" if settings.env == "PROD" else "crawlers.settings.base",
    )
    return env


_PR_SET_PDEATHSIG = 1
try:
    _LIBC = ctypes.CDLL(None, use_errno=True)
except OSError:  # pragma: no cover - not Linux/glibc
    _LIBC = None


def _die_with(parent_pid: int):  # noqa: ANN202
    """A ``preexec_fn`` for the crawl child: receive SIGKILL when the night that started it dies (Linux), so a
    killed night leaves no orphan crawl writing into the landing zone behind the next run's back. If the night
    died between the fork and this call, the signal would never come: exit at once instead."""

    def preexec() -> None:
        if _LIBC is not None and hasattr(_LIBC, "prctl"):
            _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent_pid:
            os._exit(1)

    return preexec


def _recover_after_hard_kill(jobdir: Path, running: Path, landing: Path) -> None:
    """Start afresh after a crawl that never returned (kill -9 of the night or the crawl, a lost machine).

    Scrapy saves a JOBDIR consistently only on a graceful stop: after SIGKILL its request queue may have lost
    requests whose fingerprints are already in ``requests.seen``, so a resume would silently skip pages. And a
    crawl killed between publishing ``lots.jsonl`` and writing ``_SUCCESS`` left no part files to resume from.
    Either way the unfinished landing (never read downstream: it has no ``_SUCCESS``) and the JOBDIR go, and the
    crawl runs again from the start. A crawl child still alive from that run is killed first.
    """
    hard_killed = running.exists()
    published = (landing / LOTS_FILE).exists() and not (landing / SUCCESS_FILE).exists()
    if not hard_killed and not published:
        return
    if hard_killed:
        try:
            pid = int(json.loads(running.read_text(encoding="utf-8")).get("pid") or 0)
        except (ValueError, OSError, AttributeError):
            pid = 0
        if pid > 1:
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                cmdline = b""
            if b"crawlers.crawl" in cmdline and b"\0" + str(jobdir).encode() + b"\0" in cmdline:
                log.warning("killing crawl process %d left over from a killed run", pid)
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
    log.warning(
        "the previous crawl into %s did not return (%s); discarding its JOBDIR %s and unfinished "
        "landing files, and crawling afresh",
        landing,
        "killed hard" if hard_killed else "published without _SUCCESS",
        jobdir,
    )
    shutil.rmtree(jobdir, ignore_errors=True)
    if landing.exists() and not (landing / SUCCESS_FILE).exists():
        for name in (LOTS_FILE, REJECTS_FILE):
            for leftover in (landing / name, landing / f"{name}.part", landing / f"{name}.part.tmp"):
                leftover.unlink(missing_ok=True)
    running.unlink(missing_ok=True)


def _forget_stale_job(jobdir: Path, args_file: Path, **args: str) -> None:
    """A JOBDIR resumes only the same crawl: same spider, house and site address (the demo site's port changes
    between runs). Otherwise it is discarded, so the crawl starts afresh."""
    try:
        previous = json.loads(args_file.read_text(encoding="utf-8")) if args_file.exists() else None
    except (OSError, ValueError):  # cut short by a kill -9 (written before the atomic write below): unknown crawl
        previous = {"unreadable": str(args_file)}
    if previous is not None and previous != args and jobdir.exists():
        log.warning("discarding %s: it belongs to another crawl (%s, now %s)", jobdir, previous, args)
        shutil.rmtree(jobdir, ignore_errors=True)
    tmp = args_file.with_name(f".{args_file.name}.tmp")
    tmp.write_text(json.dumps(args, sort_keys=True), encoding="utf-8")
    os.replace(tmp, args_file)  # a kill leaves the old file or the new one, never half of one


def run_crawl(
    spider: str,
    house: str,
    base_url: str,
    run_date: str,
    settings: Settings | None = None,
    timeout_s: float = 600,
    spider_args: dict[str, str] | None = None,
    scrapy_settings: dict[str, Any] | None = None,
) -> CrawlResult:
    """Crawl one house with one spider into the landing zone for ``run_date``, in a subprocess.

    Skips (``skipped=True``) when that landing is already complete. Raises :class:`CrawlError` when the
    subprocess exits non-zero or runs past ``timeout_s`` (it is asked to stop gracefully first, so its JOBDIR
    stays consistent and the next call resumes). ``spider_args`` are extra ``-a`` arguments (e.g. page_size);
    ``scrapy_settings`` override Scrapy settings (``--set NAME=VALUE``, e.g. ``{"DOWNLOAD_TIMEOUT": 5}``).
    """
    settings = settings or get_settings()
    source = source_for(spider, house)
    safe_component(run_date, "run date")
    path = settings.raw_path(source, run_date)
    if (path / SUCCESS_FILE).exists():
        log.info("%s for %s already landed in %s; not crawling again", source, run_date, path)
        return _result_from_success(source, path, read_success(source, run_date, settings), skipped=True)

    jobs = settings.crawl_jobs_dir / source
    jobs.mkdir(parents=True, exist_ok=True)
    jobdir = jobs / run_date
    log_path = jobs / f"{run_date}.log"
    with FileLock(str(jobs / f"{run_date}.lock")):
        if (path / SUCCESS_FILE).exists():  # another process landed it while we waited for the lock
            return _result_from_success(source, path, read_success(source, run_date, settings), skipped=True)
        cmd = [
            sys.executable,
            "-m",
            "crawlers.crawl",
            "--spider",
            spider,
            "--house",
            house,
            "--base-url",
            base_url,
            "--run-date",
            run_date,
            "--jobdir",
            str(jobdir),
        ]
        for name, value in (spider_args or {}).items():
            cmd += ["-a", f"{name}={value}"]
        for name, value in (scrapy_settings or {}).items():
            cmd += ["--set", f"{name}={value}"]
        running = jobs / f"{run_date}.running"
        _recover_after_hard_kill(jobdir, running, path)
        _forget_stale_job(
            jobdir, jobs / f"{run_date}.args.json", spider=spider, house=house, base_url=base_url
        )
        resumed = jobdir.exists() and any(jobdir.iterdir())
        log.info(
            "crawling %s with %s from %s for %s%s (log: %s)",
            house,
            spider,
            base_url,
            run_date,
            " (resuming)" if resumed else "",
            log_path,
        )
        started = time.monotonic()
        with open(log_path, "ab") as log_fh:
            log_fh.write(f"\n===== {time.strftime('%Y-%m-%dT%H:%M:%S')} {' '.join(cmd)}\n".encode())
            log_fh.flush()
            proc = subprocess.Popen(
                cmd,
                stdout=log_fh,
                stderr=log_fh,
                env=_child_env(settings),
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with(os.getpid()),
            )
            # present only while the child runs: found at the next start, it means this run never returned
            running.write_text(json.dumps({"pid": proc.pid}), encoding="utf-8")
            try:
                rc = proc.wait(timeout=timeout_s)
                if rc >= 0:  # it exited by itself; killed by a signal, its JOBDIR is not to be trusted
                    running.unlink(missing_ok=True)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGINT)  # Scrapy's graceful shutdown: JOBDIR state is saved
                try:
                    proc.wait(timeout=GRACEFUL_STOP_S)
                    running.unlink(missing_ok=True)
                except subprocess.TimeoutExpired:
                    proc.kill()  # the marker stays: its JOBDIR is not to be trusted
                    proc.wait()
                tail = _tail(log_path)
                raise CrawlError(
                    f"crawl {spider} ({house}, {run_date}) timed out after {timeout_s:.0f}s; "
                    f"rerun to resume from {jobdir}\n--- last log lines ---\n{tail}",
                    spider=spider,
                    house=house,
                    run_date=run_date,
                    returncode=None,
                    stderr_tail=tail,
                ) from None
        if rc != 0 or not (path / SUCCESS_FILE).exists():
            tail = _tail(log_path)
            raise CrawlError(
                f"crawl {spider} ({house}, {run_date}) failed with exit status {rc}; "
                f"log {log_path}\n--- last log lines ---\n{tail}",
                spider=spider,
                house=house,
                run_date=run_date,
                returncode=rc,
                stderr_tail=tail,
            )
        shutil.rmtree(jobdir, ignore_errors=True)  # the job is done; its state must not filter a later crawl
        (jobs / f"{run_date}.args.json").unlink(missing_ok=True)
        success = read_success(source, run_date, settings)
        log.info(
            "%s landed %d lots, %d rejects in %.1fs",
            source,
            success.get("n_items", 0),
            success.get("n_rejected", 0),
            time.monotonic() - started,
        )
        return _result_from_success(source, path, success, skipped=False)


def crawl_demo_site(
    base_url: str,
    run_date: str,
    houses_df: pd.DataFrame,
    settings: Settings | None = None,
    timeout_s: float = 600,
    max_workers: int = 4,
    spider_args: dict[str, str] | None = None,
) -> list[CrawlResult]:
    """Crawl every house of the demo site (``houses_df`` columns ``house``, ``site_format``) with the spider its
    site format names, in parallel subprocesses. Results come back in ``houses_df`` order. If any crawl fails,
    the others still finish (and land) and then the first failure is raised."""
    jobs: list[tuple[str, str]] = []
    for row in houses_df.itertuples(index=False):
        fmt = str(row.site_format)
        if fmt not in SPIDER_FOR_SITE_FORMAT:
            raise ValueError(f"house {row.house!r}: no spider for site format {fmt!r}")
        jobs.append((SPIDER_FOR_SITE_FORMAT[fmt], str(row.house)))
    settings = settings or get_settings()

    def one(job: tuple[str, str]) -> CrawlResult:
        spider, house = job
        args = spider_args if spider == "demo_api" else None
        return run_crawl(
            spider, house, base_url, run_date, settings=settings, timeout_s=timeout_s, spider_args=args
        )

    with ThreadPoolExecutor(max_workers=max(1, max_workers)) as pool:
        futures = [pool.submit(one, job) for job in jobs]
    results, errors = [], []
    for fut in futures:
        exc = fut.exception()
        if exc is not None:
            errors.append(exc)
        else:
            results.append(fut.result())
    if errors:
        raise errors[0]
    return results


def landed_sources(
    run_date: str, settings: Settings | None = None, sources: Iterable[str] | None = None
) -> list[str]:
    """Sources with a complete landing for ``run_date`` (all under raw/, or those of ``sources``)."""
    settings = settings or get_settings()
    names = (
        sources
        if sources is not None
        else (
            sorted(p.name for p in settings.raw_dir.iterdir() if p.is_dir())
            if settings.raw_dir.exists()
            else []
        )
    )
    return [s for s in names if is_landed(s, run_date, settings)]
