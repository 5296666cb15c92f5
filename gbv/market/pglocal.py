"""A throwaway PostgreSQL server with pgvector, for the pgvector tests and ``gbv bench market --backend pgvector``.

The server binaries (PostgreSQL 16 with the ``vector`` extension) come from the PyPI package ``pgserver`` (the
``dev`` extra); only its bundled ``initdb``/``pg_ctl``/``postgres`` are used, driven here so that each server
has its own data folder, unix socket folder and TCP port on 127.0.0.1, and nothing outside its folder changes.
Run as root (CI, containers), PostgreSQL refuses to start as root, so the server runs as ``nobody``.

::

    with LocalPostgres() as pg:          # initdb + start: about 2 s
        engine = create_engine(pg.url)   # postgresql+psycopg://postgres@127.0.0.1:PORT/gbv, trust auth
        ...                              # stopped (fast shutdown) and its folder removed on exit
"""

from __future__ import annotations

import atexit
import importlib.util
import logging
import os
import shutil
import socket
import stat
import subprocess
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

RUN_AS = "nobody"  # when started by root


class LocalPostgresUnavailable(RuntimeError):
    """The local server could not be started (package missing, binaries unusable, start failed)."""


def pgserver_bin() -> Path:
    """The ``bin`` folder of the PostgreSQL that the ``pgserver`` package bundles (not imported: its import
    sets up process-wide locks this module does not use)."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise LocalPostgresUnavailable("the Python package 'pgserver' is not installed (it is in the dev extra: "
                                       "pip install -e '.[dev]')")
    bin_dir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (bin_dir / "postgres").exists():
        raise LocalPostgresUnavailable(f"pgserver is installed but has no PostgreSQL binaries at {bin_dir}")
    return bin_dir


def _ensure_traversable(path: Path) -> None:
    """Let the server's user (``nobody``) reach ``path``: add the others' search bit (x, never r or w) to any
    folder above it that lacks it, as pgserver itself does (a checkout under a private home, say)."""
    for folder in [path, *path.parents]:
        mode = folder.stat().st_mode
        if not mode & stat.S_IXOTH:
            log.warning("local PostgreSQL: adding o+x to %s so that user %s can reach %s", folder, RUN_AS, path)
            folder.chmod(mode | stat.S_IXOTH)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalPostgres:
    """One PostgreSQL server in a fresh temporary folder (``root`` or the system temp), database ``gbv``."""

    def __init__(self, root: str | Path | None = None, database: str = "gbv", fast: bool = True):
        self.root_parent = Path(root) if root else None
        self.database, self.fast = database, fast
        self.dir: Path | None = None
        self.port: int | None = None
        self._user = None

    # ---- life cycle ----------------------------------------------------------------------------------------
    def _run(self, args: list[str], timeout: float = 120) -> str:
        kwargs = {}
        if self._user is not None:
            kwargs = {"user": self._user.pw_uid, "group": self._user.pw_gid, "extra_groups": []}
        try:
            res = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False,
                                 cwd=self.dir, **kwargs)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise LocalPostgresUnavailable(f"{Path(args[0]).name} failed: {exc}") from exc
        if res.returncode != 0:
            logtail = ""
            if self.dir is not None and (self.dir / "server.log").exists():
                logtail = "\nserver log:\n" + (self.dir / "server.log").read_text(errors="replace")[-2000:]
            raise LocalPostgresUnavailable(f"{Path(args[0]).name} exited {res.returncode}: "
                                           f"{(res.stderr or res.stdout).strip()[-2000:]}{logtail}")
        return res.stdout

    def start(self) -> LocalPostgres:
        bin_dir = pgserver_bin()
        if os.geteuid() == 0:
            import pwd

            try:
                self._user = pwd.getpwnam(RUN_AS)
            except KeyError as exc:
                raise LocalPostgresUnavailable(f"running as root and there is no user {RUN_AS!r} to run "
                                               f"PostgreSQL as") from exc
        self.dir = Path(tempfile.mkdtemp(prefix="gbv-pg-", dir=self.root_parent))
        try:
            if self._user is not None:
                _ensure_traversable(bin_dir.parent)
                _ensure_traversable(self.dir.parent)
                os.chown(self.dir, self._user.pw_uid, self._user.pw_gid)
            data = self.dir / "data"
            self._run([str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                       "--no-locale", "--no-sync"])
            opts = f"-h 127.0.0.1 -k {self.dir}"
            if self.fast:  # a test/bench server: durability is not wanted, speed is
                opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            for attempt in range(3):  # a free port can be taken between the probe and the bind
                self.port = _free_port()
                try:
                    self._run([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(self.dir / "server.log"),
                               "-w", "-t", "60", "-o", f"{opts} -p {self.port}", "start"])
                    break
                except LocalPostgresUnavailable:
                    if attempt == 2:
                        raise
            atexit.register(self.stop)
            import psycopg

            with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres",
                                 autocommit=True) as conn:
                conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(self.database)))
        except BaseException:
            self.stop()
            raise
        log.info("local PostgreSQL with pgvector at %s (folder %s)", self.url, self.dir)
        return self

    def stop(self) -> None:
        """Fast shutdown and remove the folder (safe to call twice)."""
        if self.dir is None:
            return
        data = self.dir / "data"
        if (data / "postmaster.pid").exists():
            try:
                self._run([str(pgserver_bin() / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "-t", "60", "stop"])
            except LocalPostgresUnavailable as exc:
                log.warning("local PostgreSQL did not stop cleanly: %s", exc)
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None
        atexit.unregister(self.stop)

    def __enter__(self) -> LocalPostgres:
        return self.start()

    def __exit__(self, *exc) -> None:  # noqa: ANN002
        self.stop()

    @property
    def url(self) -> str:
        """SQLAlchemy URL (psycopg 3, the warehouse's PostgreSQL driver)."""
        if self.port is None or self.dir is None:
            raise RuntimeError("the local PostgreSQL server is not running")
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{self.database}"
