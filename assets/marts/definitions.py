import dagster as dg

from assets.marts import assets, checks
from assets.marts.resources import dbt_resource

defs = dg.Definitions(
    assets=dg.load_assets_from_modules([assets]),
    asset_checks=dg.load_asset_checks_from_modules([checks]),
    resources={"dbt": dbt_resource()},
)
