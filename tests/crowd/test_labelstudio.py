"""Round trip through a REAL local Label Studio 1.23 server (from .venv-labelstudio; `make test-labelstudio`):
create the project, push the night's tasks, an expert annotates via the API, pull, validate, store."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select

pytestmark = [pytest.mark.labelstudio, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SERVER = Path(os.environ.get("GBV_LABEL_STUDIO_BIN", ROOT / ".venv-labelstudio" / "bin" / "label-studio"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not SERVER.exists():
        pytest.fail(f"{SERVER} not found: run `make test-labelstudio` (it creates .venv-labelstudio)")
    data = tmp_path_factory.mktemp("ls-data")
    port, token = _free_port(), secrets.token_hex(20)
    env = {**os.environ, "LABEL_STUDIO_BASE_DATA_DIR": str(data), "DJANGO_DB": "sqlite",
           "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "false"}
    log = open(data / "server.log", "w")  # noqa: SIM115
    proc = subprocess.Popen([str(SERVER), "start", "--no-browser", "--data-dir", str(data), "--host", "127.0.0.1",
                             "--port", str(port), "--username", "admin@gbv.local", "--password", secrets.token_hex(8),
                             "--user-token", token, "--enable-legacy-api-token"],
                            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"label-studio exited {proc.returncode}: {(data / 'server.log').read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(1)
    else:
        proc.kill()
        pytest.fail(f"label-studio did not answer /health: {(data / 'server.log').read_text()[-3000:]}")
    yield url, token
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def test_round_trip(server, small_world, warehouse_settings, tmp_path):
    import datetime as dt

    from gbv.crowd import labelstudio as lsx
    from gbv.crowd.labels import import_labels
    from gbv.privacy import pseudonymize
    from warehouse.db import get_engine
    from warehouse.loaders import upsert_lots
    from warehouse.schema import fact_expert_label, metadata

    url, token = server
    ls = lsx.client(url, token)
    title = f"gbv test {secrets.token_hex(4)}"  # one server serves both warehouse params
    pid = lsx.ensure_project(ls, title)
    assert lsx.ensure_project(ls, title) == pid  # found again, not duplicated
    project = ls.projects.get(id=pid)
    assert "value_point" in project.label_config and "abstract_expressionism" in project.label_config

    world = small_world
    lots = world.lots_as_of(dt.date(2016, 1, 1))
    # the latest sales: still ahead of today, so a label submitted now is before the sale
    chosen = lots.sort_values(["sale_date", "lot_ref"], ascending=False)["lot_ref"].head(3).tolist()
    run = dt.datetime.now(dt.UTC).date().isoformat()
    requests = pd.DataFrame({"lot_ref": [chosen[0], chosen[0], chosen[1], chosen[2]],
                             "expert_key": [pseudonymize(e, "s") for e in ("E001", "E002", "E001", "E003")]})
    tasks = lsx.tasks_from_requests(requests, lots)
    assert all("expert" not in k or k == "experts_requested" for t in tasks for k in t["data"])
    assert lsx.push_tasks(ls, pid, tasks) == 3
    assert lsx.push_tasks(ls, pid, tasks) == 0  # idempotent

    # an expert with an account in the tool annotates (the tool knows who; nothing else does)
    tag = secrets.token_hex(3)
    expert = ls.users.create(email=f"E002@{tag}.experts.gbv.local", username=f"e002-{tag}", first_name="Expert",
                             last_name="Two")
    task = next(t for t in ls.tasks.list(project=pid) if t.data["lot_ref"] == chosen[0])
    result = lsx.annotation_result(value_low=8000, value_point=10000, value_high=12500, currency="USD",
                                   style="pop_art", attribution_confidence=0.8, condition="good",
                                   comment="strong provenance")
    ls.annotations.create(id=task.id, result=result, completed_by=expert.id)
    bad = lsx.annotation_result(value_low=-1, value_point=-1, value_high=5, currency="XYZ")
    task2 = next(t for t in ls.tasks.list(project=pid) if t.data["lot_ref"] == chosen[1])
    ls.annotations.create(id=task2.id, result=bad, completed_by=expert.id)

    pulled = lsx.pull_labels(ls, pid)
    assert len(pulled) == 2
    good = pulled[pulled["lot_ref"] == chosen[0]].iloc[0]
    assert good["value_point"] == 10000 and good["currency"] == "USD" and good["style"] == "pop_art"
    assert good["condition"] == "good" and good["attribution_confidence"] == 0.8
    labels_csv = tmp_path / "ls_export.csv"
    pulled.to_csv(labels_csv, index=False)

    settings = warehouse_settings
    engine = get_engine(settings)
    metadata.create_all(engine)
    upsert_lots(engine, lots, run)
    roster = tmp_path / "experts.csv"
    world.experts[["expert_id"]].to_csv(roster, index=False)
    res = import_labels(labels_csv, settings, run, experts=roster, outlier_k=4.0)
    assert len(res.accepted) == 1, res.quarantine["reason"].tolist()
    assert len(res.accepted) == 1 and res.n_quarantined_rows == 1
    assert res.quarantine["reason"].str.contains("unknown currency").any()
    with engine.connect() as conn:
        stored = pd.read_sql(select(fact_expert_label), conn)
    assert list(stored["lot_ref"]) == [chosen[0]]
    assert stored["expert_key"].iloc[0] == pseudonymize(good["expert_id"], settings.expert_salt)
    assert not stored.astype(str).apply(lambda c: c.str.contains("E002")).any().any()
