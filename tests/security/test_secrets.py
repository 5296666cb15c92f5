"""Secrets only from the environment: detect-secrets finds nothing in the repository beyond ``.secrets.baseline``
(which lists none), and it does catch a secret when one is added."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HOOK = Path(sys.executable).with_name("detect-secrets-hook")


def _repo_files() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.decode()
    return [f for f in out.split("\0") if f and (ROOT / f).is_file() and f != ".secrets.baseline"]


def _hook(files: list[str], baseline: Path, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(HOOK), "--baseline", str(baseline), *files], cwd=cwd, capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def baseline(tmp_path) -> Path:
    copy = tmp_path / "baseline.json"  # the hook may rewrite its baseline: never the tracked one
    shutil.copy(ROOT / ".secrets.baseline", copy)
    return copy


def test_the_baseline_lists_no_secret():
    data = json.loads((ROOT / ".secrets.baseline").read_text())
    assert data["results"] == {}
    assert data["plugins_used"], "the baseline was made with the scanner's plugins"


def test_no_new_secret_in_the_repository(baseline):
    assert HOOK.exists(), "detect-secrets is a dev dependency (pip install -e '.[dev]')"
    result = _hook(_repo_files(), baseline, ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_an_added_secret_is_caught(baseline, tmp_path):
    leaked = tmp_path / "settings_local.py"
    fake_key = "AKIA" + "IOSFODNN7EXAMPLE"  # split, so this file itself holds no key
    leaked.write_text(f'AWS_ACCESS_KEY_ID = "{fake_key}"\n')
    result = _hook([str(leaked)], baseline, tmp_path)
    assert result.returncode != 0
    assert "AWS Access Key" in result.stdout + result.stderr
