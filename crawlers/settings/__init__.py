"""Scrapy settings as a package: ``base`` for local runs, ``prod`` for production; ``SCRAPY_SETTINGS_MODULE``
picks one (``crawlers.crawl`` defaults it to ``crawlers.settings.base``, or ``prod`` when ``GBV_ENV=PROD``)."""
