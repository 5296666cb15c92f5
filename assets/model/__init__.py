from assets.model import definitions  # noqa: F401
