"""Resources shared by the domains, keyed by environment like hooli's ``resources.py``.

LOCAL: the embedded DuckDB file under GBV_HOME and the demo sources. PROD: the warehouse at GBV_WAREHOUSE_URL
(read through ``dg.EnvVar`` so the secret never sits in code) and the configured sources.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from sqlalchemy import Engine

from gbv.settings import Settings, get_settings


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse engine. ``url`` overrides GBV_WAREHOUSE_URL (None: from the settings)."""

    url: str | None = None

    def settings(self) -> Settings:
        base = get_settings()
        if self.url:
            from dataclasses import replace

            base = replace(base, warehouse_url=self.url)
        return base

    def engine(self) -> Engine:
        from warehouse.db import get_engine

        return get_engine(self.settings())


class ComputeResource(dg.ConfigurableResource):
    """Where training runs: ``auto`` picks CUDA when torch sees a GPU and falls back to the CPU."""

    device: str = "auto"

    def resolve(self) -> str:
        from model.compute import pick_device

        return pick_device(self.device)


class ModelStoreResource(dg.ConfigurableResource):
    """The model registry: artifacts under GBV_HOME/models, rows in the warehouse's dim_model."""

    models_dir: str | None = None

    def store(self, engine: Engine):  # noqa: ANN201
        from model.store import ModelStore

        return ModelStore(Path(self.models_dir) if self.models_dir else get_settings().models_dir, engine)


class SourcesResource(dg.ConfigurableResource):
    """Where the night's data comes from.

    ``demo``: the demo world (``GBV_DEMO_LOTS`` lots, ``GBV_SEED``), served on a local site that the crawl asset
    starts itself unless ``demo_site_url`` points at a running one; the demo labelling tool's export is written
    into the landing zone. Real houses' spiders and importers plug in as further modes.
    """

    mode: str = "demo"
    demo_site_url: str | None = None

    def world(self):  # noqa: ANN201
        from gbv.demo.world import world_for_home

        return world_for_home(get_settings())


def resources_for_env(env: str | None = None) -> dict[str, dg.ConfigurableResource]:
    from assets.common import StageIOManager

    env = env or get_settings().env
    by_env = {
        "LOCAL": {
            "warehouse": WarehouseResource(),
            "compute": ComputeResource(device="auto"),
            "model_store": ModelStoreResource(),
            "sources": SourcesResource(mode="demo", demo_site_url=dg.EnvVar("GBV_DEMO_SITE_URL").get_value()),
            "io_manager": StageIOManager(),
        },
        "PROD": {
            "warehouse": WarehouseResource(url=dg.EnvVar("GBV_WAREHOUSE_URL")),
            "compute": ComputeResource(device="auto"),
            "model_store": ModelStoreResource(),
            "sources": SourcesResource(mode="demo", demo_site_url=dg.EnvVar("GBV_DEMO_SITE_URL").get_value()),
            "io_manager": StageIOManager(),
        },
    }
    return by_env[env]
