from assets.market import definitions  # noqa: F401
