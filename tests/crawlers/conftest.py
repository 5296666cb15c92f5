"""Fixtures for the crawler tests: a small demo world, its site, a private GBV_HOME, offline responses."""

from __future__ import annotations

import datetime as dt

import pytest

from crawlers.testing import file_response
from gbv.demo.site import DemoSite
from gbv.demo.world import generate_world
from gbv.settings import get_settings

AS_OF = dt.date(2026, 10, 1)
RUN_DATE = AS_OF.isoformat()


@pytest.fixture(scope="session")
def world():
    return generate_world(n_lots=300, seed=7)


@pytest.fixture()
def gbv_home(tmp_path, monkeypatch):
    """A fresh GBV_HOME for the test; returns the Settings read from it."""
    monkeypatch.setenv("GBV_HOME", str(tmp_path / "gbv"))
    monkeypatch.delenv("GBV_WAREHOUSE_URL", raising=False)
    return get_settings()


@pytest.fixture(scope="session")
def offline_site(world):
    """A DemoSite that is never started: pages come from ``render`` (no network)."""
    return DemoSite(world, AS_OF)


@pytest.fixture(name="file_response")
def file_response_fixture():
    return file_response
