"""One HTTP attempt of a webhook delivery.

The request connects to the address that the guard checked, never to a
fresh DNS answer, and sends the host name in the Host header and, for
https, in the TLS server name with certificate checks against it.
Redirects are not followed: a 3xx response is a failed attempt.
"""
import email.utils
import threading
import time

import certifi
import urllib3
from urllib3.exceptions import (
    HTTPError, NewConnectionError, ProtocolError, SSLError, TimeoutError)

from . import guard

USER_AGENT = 'CRM-Webhooks/1.0'
BODY_EXCERPT = 1024
# A response body longer than this closes its connection instead of
# keeping it for the next attempt.
MAX_DRAIN = 64 * 1024
# Connection pools kept per process, one per checked address and host
MAX_POOLS = 64
_pools = {}
_pools_lock = threading.Lock()
SIGNATURE_HEADER = 'webhook-signature'

# Outcomes of an attempt, stored as the attempt's error kind.
SUCCESS = None
STATUS = 'status'
GONE = 'gone'
REDIRECT = 'redirect'
TIMEOUT = 'timeout'
CONNECTION = 'connection'
TLS = 'tls'
BLOCKED = 'blocked'
ERROR_KINDS = [
    (STATUS, "HTTP Status"),
    (GONE, "Gone (410)"),
    (REDIRECT, "Redirect"),
    (TIMEOUT, "Timeout"),
    (CONNECTION, "Connection"),
    (TLS, "TLS"),
    (BLOCKED, "Blocked Address"),
    ]


class Result:
    "What one attempt did, ready to be logged"

    def __init__(self, request_headers):
        self.request_headers = request_headers
        self.status = None
        self.body = b''
        self.retry_after = None
        self.error_kind = SUCCESS
        self.error = None
        self.duration_ms = 0

    @property
    def succeeded(self):
        return self.error_kind is SUCCESS


def loggable_headers(headers):
    "Return the request headers with the signatures replaced by their count"
    result = dict(headers)
    if SIGNATURE_HEADER in result:
        count = len(result[SIGNATURE_HEADER].split())
        result[SIGNATURE_HEADER] = f'({count} signature(s) not stored)'
    return result


def retry_after_seconds(value, now=None):
    """Return the seconds of a Retry-After header, or None when it is
    missing or malformed"""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment is None or moment.tzinfo is None:
        return None
    now = time.time() if now is None else now
    return max(0.0, moment.timestamp() - now)


def post(url, body, headers, *, allowed, connect_timeout, timeout):
    "Send body to url and return a Result; raise nothing of the network's"
    # The log shows every header that goes out, because urllib3 2 adds none
    # of its own when these are given.
    headers = {
        'content-type': 'application/json',
        'content-length': str(len(body)),
        'user-agent': USER_AGENT,
        'accept-encoding': 'identity',
        **headers,
        }
    result = Result(loggable_headers(headers))
    started = time.monotonic()
    try:
        target = guard.check_url(url, allowed)
        headers['host'] = target.host_header
        result.request_headers = loggable_headers(headers)
        _send(target, body, headers, result, connect_timeout, timeout)
    except guard.GuardError as exception:
        result.error_kind = BLOCKED
        result.error = str(exception)
    except NewConnectionError as exception:
        # urllib3 2 makes this a subclass of its connect timeout error.
        result.error_kind = CONNECTION
        result.error = _describe(exception)
    except TimeoutError as exception:
        result.error_kind = TIMEOUT
        result.error = _describe(exception)
    except SSLError as exception:
        result.error_kind = TLS
        result.error = _describe(exception)
    except (ProtocolError, HTTPError, OSError) as exception:
        result.error_kind = CONNECTION
        result.error = _describe(exception)
    result.duration_ms = round((time.monotonic() - started) * 1000)
    return result


def _describe(exception):
    text = str(exception) or type(exception).__name__
    return text[:500]


def _pool(target, connect_timeout, timeout):
    "Return the connection pool to the checked address of a target"
    address = str(target.addresses[0])
    key = (target.scheme, address, target.port, target.host,
        connect_timeout, timeout)
    with _pools_lock:
        pool = _pools.pop(key, None)
        if pool is None:
            options = {
                'timeout': urllib3.Timeout(
                    connect=connect_timeout, total=timeout),
                'retries': False,
                'maxsize': 4,
                }
            if target.scheme == 'https':
                pool = urllib3.HTTPSConnectionPool(
                    address, target.port, server_hostname=target.host,
                    assert_hostname=target.host, cert_reqs='CERT_REQUIRED',
                    ca_certs=certifi.where(), **options)
            else:
                pool = urllib3.HTTPConnectionPool(
                    address, target.port, **options)
        # Most recently used last, so the first is the one to drop.
        _pools[key] = pool
        while len(_pools) > MAX_POOLS:
            _pools.pop(next(iter(_pools))).close()
        return pool


def _send(target, body, headers, result, connect_timeout, timeout):
    pool = _pool(target, connect_timeout, timeout)
    # NOTE: the total timeout bounds the connection and each read, so a
    # receiver that trickles its response headers a byte at a time can
    # hold an attempt longer than "timeout".
    deadline = time.monotonic() + timeout
    response = pool.urlopen(
        'POST', target.path, body=body,
        headers=headers,
        redirect=False, retries=False, preload_content=False,
        assert_same_host=False)
    try:
        result.status = response.status
        result.retry_after = retry_after_seconds(
            response.headers.get('retry-after'))
        result.body = _read_excerpt(response, deadline)
    finally:
        _release(response, deadline)
    if 200 <= result.status < 300:
        result.error_kind = SUCCESS
    elif result.status == 410:
        result.error_kind = GONE
    elif 300 <= result.status < 400:
        result.error_kind = REDIRECT
        result.error = "redirects are not followed"
    else:
        result.error_kind = STATUS
    if result.error_kind is not SUCCESS and not result.error:
        result.error = f"the receiver answered {result.status}"


def _release(response, deadline):
    "Keep the connection for the next attempt when the body was short"
    drained = 0
    while drained < MAX_DRAIN and time.monotonic() < deadline:
        chunk = response.read(MAX_DRAIN - drained)
        if not chunk:
            response.release_conn()
            return
        drained += len(chunk)
    response.close()


def _read_excerpt(response, deadline):
    excerpt = b''
    while len(excerpt) < BODY_EXCERPT and time.monotonic() < deadline:
        chunk = response.read(BODY_EXCERPT - len(excerpt))
        if not chunk:
            break
        excerpt += chunk
    return excerpt
