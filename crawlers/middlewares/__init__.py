"""Downloader middlewares: the site boundary (``origin``) and retry pacing (``retry_after``)."""
