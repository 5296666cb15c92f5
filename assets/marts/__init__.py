from assets.marts import definitions  # noqa: F401 - assets.definitions merges marts.definitions.defs
