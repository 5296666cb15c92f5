"""One spider per file. ``demo_html`` and ``demo_api`` crawl the two site formats of the demo auction site."""
