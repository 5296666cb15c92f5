"""Scrapy settings for gbv's crawlers (local defaults; ``prod`` imports these and slows down).

Polite by default: robots.txt obeyed, AutoThrottle on, few concurrent requests per site, a user agent that says
who we are and how to reach us, retries (429 included) paced by Retry-After or exponential backoff
(``crawlers.middlewares``), never off the site it was pointed at (same scheme, host and port). No feed
exports: items go to the raw landing zone through ``crawlers.pipelines.landing``.
"""

BOT_NAME = "gbv"

SPIDER_MODULES = ["crawlers.spiders"]
NEWSPIDER_MODULE = "crawlers.spiders"

USER_AGENT = "gbv-bot/0.1 (+https://github.com/gbv; data@gbv.example)"
ROBOTSTXT_OBEY = True

CONCURRENT_REQUESTS = 8
CONCURRENT_REQUESTS_PER_DOMAIN = 4
DOWNLOAD_DELAY = 0
DOWNLOAD_TIMEOUT = 30

# AutoThrottle adapts the delay to the server's latency; localhost answers in milliseconds.
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 0.05
AUTOTHROTTLE_MAX_DELAY = 5.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 2.0

RETRY_ENABLED = True
RETRY_TIMES = 3
RETRY_HTTP_CODES = [429, 500, 502, 503, 504, 522, 524, 408]
# Between retries: wait the server's Retry-After (429/503), else RETRY_BACKOFF_BASE_S * 2**(retry-1); capped.
RETRY_AFTER_MAX_S = 30.0
RETRY_BACKOFF_BASE_S = 0.25
REDIRECT_MAX_TIMES = 5
# A body shorter than its Content-Length is an error (retried, then a reject), never a silently short page.
DOWNLOAD_FAIL_ON_DATALOSS = True
DOWNLOADER_MIDDLEWARES = {
    # before OffsiteMiddleware's neighbour RobotsTxtMiddleware (100): off-site hosts/ports are never contacted
    "crawlers.middlewares.origin.SameOriginMiddleware": 60,
    # between RetryMiddleware (550) and the downloader: Retry-After and exponential backoff
    "crawlers.middlewares.retry_after.RetryPacingMiddleware": 560,
    # before RedirectMiddleware (600) on the way back: an off-site or cyclic redirect becomes a recorded failure
    "crawlers.middlewares.origin.RedirectGuardMiddleware": 650,
}

HTTPCACHE_ENABLED = False
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
# Scrapy >= 2.19 starts an HTTP "remote control" (runs Python sent to it) and writes its token to a job file in
# the user's home directory. A nightly batch crawler needs neither, and nothing may live outside GBV_HOME.
REMOTE_CONTROL_ENABLED = False
LOG_LEVEL = "INFO"

# Items leave only through the landing zone; no FEEDS.
FEEDS: dict = {}
ITEM_PIPELINES = {
    "crawlers.pipelines.validate.ValidateLotPipeline": 100,
    "crawlers.pipelines.landing.RawLandingPipeline": 900,
}

# Crawl breadth-first so a resumed JOBDIR crawl finishes index pages before sale pages.
DEPTH_PRIORITY = 1
SCHEDULER_DISK_QUEUE = "scrapy.squeues.PickleFifoDiskQueue"
SCHEDULER_MEMORY_QUEUE = "scrapy.squeues.FifoMemoryQueue"

FEED_EXPORT_ENCODING = "utf-8"
