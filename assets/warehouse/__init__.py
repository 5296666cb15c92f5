from assets.warehouse import definitions  # noqa: F401
