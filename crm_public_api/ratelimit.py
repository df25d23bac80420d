"""Per-key rate limits.

Each key may make ``rate_limit`` requests (the key's own, else
``[crm_api] rate_limit``, 100 by default) in any rolling minute.  The
moving window of the ``limits`` library counts every request's time, so
no window edge lets a burst through twice.  The counters live in
``[crm_api] rate_limit_storage``: ``memory://`` for one process, or a
Redis URI such as ``redis://127.0.0.1:6379`` so that every server
process shares one budget per key.

Responses carry the headers of the IETF draft "RateLimit header fields
for HTTP" (draft-ietf-httpapi-ratelimit-headers-09): ``RateLimit-Policy``
names the quota and window, ``RateLimit`` the remaining requests and the
seconds until the oldest counted request leaves the window.
"""
import math
import threading
import time

from limits import RateLimitItemPerMinute
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from trytond import config

DEFAULT_LIMIT = 100
WINDOW = 60
POLICY = 'per-key'


class Decision:
    def __init__(self, allowed, limit, remaining, reset):
        self.allowed = allowed
        self.limit = limit
        self.remaining = remaining
        self.reset = reset

    @property
    def headers(self):
        return {
            'RateLimit-Policy': f'"{POLICY}";q={self.limit};w={WINDOW}',
            'RateLimit': f'"{POLICY}";r={self.remaining};t={self.reset}',
            }


class RateLimiter:
    def __init__(self, uri):
        self.uri = uri
        self.limiter = MovingWindowRateLimiter(storage_from_string(uri))

    def hit(self, database, key_id, limit):
        "Count a request of the key and decide whether it may run"
        item = RateLimitItemPerMinute(limit)
        # Ids restart in each database, and one Redis may count for the
        # servers of several databases.
        identifier = f'crm-api-{database}-key-{key_id}'
        allowed = self.limiter.hit(item, identifier)
        stats = self.limiter.get_window_stats(item, identifier)
        reset = max(0, math.ceil(stats.reset_time - time.time()))
        return Decision(allowed, limit, max(0, stats.remaining), reset)


_limiter = None
_lock = threading.Lock()


def limiter():
    "Return the process's rate limiter, built on first use"
    global _limiter
    uri = config.get('crm_api', 'rate_limit_storage', default='memory://')
    with _lock:
        if _limiter is None or _limiter.uri != uri:
            _limiter = RateLimiter(uri)
        return _limiter


def default_limit():
    return config.getint('crm_api', 'rate_limit', default=DEFAULT_LIMIT)
