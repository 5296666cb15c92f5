"""Resources of the marts domain: the dbt CLI on the project in warehouse/dbt.

The profile's target follows the warehouse (``LOCAL`` = dbt-duckdb on the DuckDB file, ``PROD`` = dbt-postgres);
the assets put the connection into the environment of the dbt process (:func:`gbv.market.dbt.apply_dbt_env`),
so no secret is written to a file.
"""

from __future__ import annotations

from dagster_dbt import DbtCliResource, DbtProject

from gbv.market.dbt import DBT_PROJECT_DIR, dbt_executable

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable())
