from assets.labels import definitions  # noqa: F401
