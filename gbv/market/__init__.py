"""Market intelligence over the warehouse: price indices (:mod:`gbv.market.index`), the dbt marts
(:mod:`gbv.market.dbt`, project in ``warehouse/dbt``), the ``gbv marts`` / ``gbv bench index`` commands
(:mod:`gbv.market.cli`) and the index-quality benchmark (:mod:`gbv.market.bench`)."""
