"""docker/compose.yaml: services, builds, ports and secrets (parsed with yaml; no docker needed)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
COMPOSE = DOCKER / "compose.yaml"
DB_PORTS = {"5432", "6379", "3306", "27017"}
REQUIRED = {
    "postgres",
    "redis",
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-worker",
    "dagster-webserver",
    "dagster-daemon",
    "dagster-code",
    "trainer",
}
SECRET_KEY_RE = re.compile(r"(PASSWORD|SECRET|FERNET|SALT|TOKEN|_KEY)$", re.IGNORECASE)
URL_PASSWORD_RE = re.compile(r"://[^:/@\s]*:([^@]*)@")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def _env(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def test_required_services_present(services):
    assert REQUIRED <= set(services), REQUIRED - set(services)


def test_every_service_has_an_image_or_an_existing_build(services):
    for name, svc in services.items():
        build = svc.get("build")
        assert build or svc.get("image"), f"{name}: neither image nor build"
        if build:
            if isinstance(build, str):
                build = {"context": build}
            context = (COMPOSE.parent / build["context"]).resolve()
            assert context.is_dir(), f"{name}: build context {context} missing"
            assert context == REPO or REPO in context.parents, f"{name}: context outside the repo"
            dockerfile = context / build.get("dockerfile", "Dockerfile")
            assert dockerfile.is_file(), f"{name}: dockerfile {dockerfile} missing"


def test_dockerfiles_named_in_the_brief_exist():
    for rel in (
        "Dockerfile",
        "airflow/Dockerfile",
        "dagster/Dockerfile",
        "trainer/Dockerfile",
        "dagster/dagster.yaml",
        "dagster/workspace.yaml",
        "README.md",
    ):
        assert (DOCKER / rel).is_file(), rel
    assert any((DOCKER / "postgres").glob("*.sh")) or any((DOCKER / "postgres").glob("*.sql"))


def test_dockerfile_bases():
    assert re.search(r"^FROM python:3\.11-slim", (DOCKER / "Dockerfile").read_text(), re.M)
    airflow = (DOCKER / "airflow/Dockerfile").read_text()
    assert "apache/airflow:${AIRFLOW_VERSION}-python3.11" in airflow and "AIRFLOW_VERSION=3.3.2" in airflow
    trainer = (DOCKER / "trainer/Dockerfile").read_text()
    assert re.search(r"pytorch/pytorch:2\.\d+(\.\d+)?-cuda12\.\d+-cudnn9-runtime", trainer)
    assert "--no-deps" in trainer and re.search(r'ENTRYPOINT \["gbv", "train"\]', trainer)
    for rel in ("Dockerfile", "dagster/Dockerfile", "trainer/Dockerfile"):
        assert re.search(r"^USER (?!root)\S+", (DOCKER / rel).read_text(), re.M), f"{rel} runs as root"


def _published(svc: dict) -> list:
    return svc.get("ports") or []


def test_no_database_port_published(services):
    for name in ("postgres", "redis"):
        assert not _published(services[name]), f"{name} publishes a port"
    for name, svc in services.items():
        for port in _published(svc):
            target = str(port.get("target") if isinstance(port, dict) else port).rsplit(":", 1)[-1]
            assert target.split("/")[0] not in DB_PORTS, f"{name} publishes database port {port}"


def test_every_published_port_binds_localhost(services):
    seen = 0
    for name, svc in services.items():
        for port in _published(svc):
            seen += 1
            if isinstance(port, dict):
                assert port.get("host_ip") == "127.0.0.1", f"{name}: {port}"
            else:
                assert str(port).startswith("127.0.0.1:"), f"{name}: {port} not bound to 127.0.0.1"
    assert seen >= 2  # the Airflow and Dagster UIs


def test_no_literal_secrets(services):
    text = COMPOSE.read_text(encoding="utf-8")
    for name, svc in services.items():
        for key, value in _env(svc).items():
            if SECRET_KEY_RE.search(key):
                assert re.fullmatch(r"\$\{[A-Z0-9_]+:\?[^}]*\}", value), f"{name}: {key} is not ${{VAR:?...}}"
            for pw in URL_PASSWORD_RE.findall(value):
                assert re.fullmatch(r"\$\{[A-Z0-9_]+:\?[^}]*\}", pw), f"{name}: {key} has a literal password"
    # every ${VAR} that carries a secret is required (no default)
    for var, default in re.findall(r"\$\{([A-Z0-9_]+)(:-[^}]*)?\}", text):
        if SECRET_KEY_RE.search(var):
            assert not default, f"{var} has a default"


def test_app_services_use_the_postgres_warehouse(services):
    for name in ("airflow-scheduler", "airflow-worker", "dagster-code", "dagster-daemon", "trainer"):
        url = _env(services[name]).get("GBV_WAREHOUSE_URL", "")
        assert url.startswith("postgresql+psycopg://") and "@postgres:5432/" in url, name


def test_airflow_celery_and_auth(services):
    env = _env(services["airflow-scheduler"])
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert "redis" in env["AIRFLOW__CELERY__BROKER_URL"]
    assert env["AIRFLOW__CORE__AUTH_MANAGER"].endswith(("FabAuthManager", "SimpleAuthManager"))
    assert "celery worker" in str(services["airflow-worker"]["command"])


def test_trainer_reserves_a_gpu_under_the_gpu_profile(services):
    trainer = services["trainer"]
    assert "gpu" in trainer.get("profiles", [])
    devices = trainer["deploy"]["resources"]["reservations"]["devices"]
    assert any(d.get("driver") == "nvidia" and "gpu" in d.get("capabilities", []) for d in devices)


def test_dagster_instance_uses_postgres_from_env():
    instance = yaml.safe_load((DOCKER / "dagster/dagster.yaml").read_text())
    pg = instance["storage"]["postgres"]["postgres_db"]
    for key in ("username", "password", "hostname", "db_name"):
        assert isinstance(pg[key], dict) and "env" in pg[key], key
    workspace = yaml.safe_load((DOCKER / "dagster/workspace.yaml").read_text())
    assert workspace["load_from"][0]["grpc_server"]["host"] == "dagster-code"


def test_databases_require_a_password(services):
    """Even on the compose network nothing talks to a database unauthenticated."""
    pg = _env(services["postgres"])
    assert re.fullmatch(r"\$\{POSTGRES_PASSWORD:\?[^}]*\}", pg.get("POSTGRES_PASSWORD", ""))
    assert pg.get("POSTGRES_HOST_AUTH_METHOD", "scram-sha-256") not in ("trust", "password")
    assert "--requirepass" in str(services["redis"].get("command"))


def test_every_published_ui_authenticates_or_is_documented_local_only(services):
    """A published port is either Airflow (FAB login) or a UI without its own auth bound to 127.0.0.1 and
    flagged in the compose file as needing an authenticating proxy before it is opened up."""
    text = COMPOSE.read_text(encoding="utf-8")
    for name, svc in services.items():
        if not _published(svc):
            continue
        if name.startswith("airflow"):
            assert _env(services["airflow-scheduler"])["AIRFLOW__CORE__AUTH_MANAGER"].endswith("FabAuthManager")
        else:
            assert name.startswith("dagster"), f"{name} publishes a port without a known auth story"
            assert "reverse proxy with authentication" in text
