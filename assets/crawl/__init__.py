from assets.crawl import definitions  # noqa: F401
