"""Options of the ``crm_webhook`` configuration section.

Each one can also come from the environment as
``TRYTOND_CRM_WEBHOOK__<NAME>``.  They are read on use, so a test or an
operator changes them without touching the code:

encryption_key
    URL-safe base64 of 32 bytes (a Fernet key) that encrypts the webhook
    secrets stored in the database.  Required.
retry_schedule
    Seconds to wait before each retry, comma separated; its length is the
    number of retries.  The default spreads 5 retries over about 35 hours.
retry_jitter
    Fraction of each wait added at random, so that receivers that came
    back are not hit by every retry at the same second.
connect_timeout, timeout
    Seconds to connect, and for the whole request.
allow_networks
    CIDR blocks, comma separated, that the address guard lets through.
lease
    Seconds a sender keeps its claim on a delivery; after that another
    sender may pick the delivery up, as its first sender is presumed dead.
    It is never shorter than the request timeout plus a margin.
requeue_after
    Seconds after which a due delivery whose queue task has not run is
    queued again.
poll_interval
    Seconds between two scans for due deliveries by crm-webhook-worker.
max_retry_after
    Upper bound in seconds of a receiver's Retry-After header.
rotation_grace
    Seconds during which the previous secret still signs after a rotation.
attempt_retention_days
    Days that attempts stay in the log before the cleaning cron removes
    them.
"""
from trytond import config

SECTION = 'crm_webhook'
DEFAULT_RETRY_SCHEDULE = '300,1800,7200,28800,86400'
LEASE_MARGIN = 5


def _float(name, default):
    return float(config.get(SECTION, name, default=default))


def retry_schedule():
    "Return the waits before each retry, in seconds"
    text = config.get(
        SECTION, 'retry_schedule', default=DEFAULT_RETRY_SCHEDULE)
    try:
        schedule = [float(s) for s in text.split(',') if s.strip()]
    except ValueError as exception:
        raise ValueError(
            f"retry_schedule of [{SECTION}] must be seconds separated by "
            f"commas, not {text!r}") from exception
    if any(s < 0 for s in schedule):
        raise ValueError(f"retry_schedule of [{SECTION}] must not be negative")
    return schedule


def retry_jitter():
    return _float('retry_jitter', 0.1)


def connect_timeout():
    return _float('connect_timeout', 5)


def timeout():
    return _float('timeout', 15)


def allow_networks():
    return config.get(SECTION, 'allow_networks', default='')


def lease():
    return max(_float('lease', 60), timeout() + LEASE_MARGIN)


def requeue_after():
    return _float('requeue_after', 60)


def poll_interval():
    return _float('poll_interval', 5)


def max_retry_after():
    return _float('max_retry_after', 86400)


def rotation_grace():
    return _float('rotation_grace', 86400)


def attempt_retention_days():
    return int(config.get(SECTION, 'attempt_retention_days', default=30))


def encryption_key():
    return config.get(SECTION, 'encryption_key', default=None)


def has_queue_worker():
    "Tell whether trytond-worker processes run the queue"
    return config.getboolean('queue', 'worker', default=False)
