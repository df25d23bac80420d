"""The pure parts of webhook delivery: signatures checked by the
independent standardwebhooks library, the retry state machine and the
Retry-After parser."""
import base64
import email.utils
import time

import pytest
from standardwebhooks.webhooks import Webhook as Verifier
from standardwebhooks.webhooks import WebhookVerificationError

from crm_external_integrations import sender, signing
from crm_external_integrations.delivery import next_step

BODY = '{"id":"evt_1","type":"ping","data":{"name":"Zoë"}}'.encode('utf-8')


def test_generated_secret_format():
    secret = signing.generate_secret()

    assert secret.startswith('whsec_')
    assert len(base64.b64decode(secret[len('whsec_'):])) >= 24
    assert signing.generate_secret() != secret


def test_signature_verifies_with_standardwebhooks():
    secret = signing.generate_secret()
    timestamp = int(time.time())

    headers = signing.headers([secret], 'evt_1', timestamp, BODY)

    assert Verifier(secret).verify(BODY, headers) == {
        'id': 'evt_1', 'type': 'ping', 'data': {'name': 'Zoë'}}


def test_signature_rejects_changed_body():
    secret = signing.generate_secret()
    headers = signing.headers([secret], 'evt_1', int(time.time()), BODY)

    with pytest.raises(WebhookVerificationError):
        Verifier(secret).verify(BODY + b' ', headers)


def test_rotation_header_verifies_with_each_secret():
    current, previous = signing.generate_secret(), signing.generate_secret()

    headers = signing.headers(
        [current, previous], 'evt_2', int(time.time()), BODY)

    assert len(headers['webhook-signature'].split(' ')) == 2
    Verifier(current).verify(BODY, headers)
    Verifier(previous).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Verifier(signing.generate_secret()).verify(BODY, headers)


@pytest.mark.parametrize('secret', [
        'sk_' + base64.b64encode(b'x' * 32).decode(),
        'whsec_not base64!',
        'whsec_' + base64.b64encode(b'short').decode(),
        ])
def test_invalid_secret_is_rejected(secret):
    with pytest.raises(ValueError):
        signing.secret_key(secret)


SCHEDULE = [300, 1800, 7200, 28800, 86400]


@pytest.mark.parametrize('attempts, error_kind, retry_after, expected', [
        (1, None, None, ('succeeded', None)),
        (3, None, None, ('succeeded', None)),
        (1, 'gone', None, ('failed', None)),
        (1, 'status', None, ('retrying', 300)),
        (2, 'timeout', None, ('retrying', 1800)),
        (5, 'connection', None, ('retrying', 86400)),
        (6, 'status', None, ('failed', None)),
        (1, 'redirect', None, ('retrying', 300)),
        (1, 'status', 900, ('retrying', 900)),
        (1, 'status', 10, ('retrying', 300)),
        (1, 'status', 10 ** 9, ('retrying', 86400)),
        ])
def test_next_step(attempts, error_kind, retry_after, expected):
    assert next_step(
        attempts, error_kind, retry_after, schedule=SCHEDULE,
        max_retry_after=86400) == expected


def test_default_schedule_spans_more_than_a_day():
    from crm_external_integrations import settings

    schedule = [float(s) for s in settings.DEFAULT_RETRY_SCHEDULE.split(',')]

    assert len(schedule) == 5
    assert sum(schedule) > 24 * 3600
    assert schedule == sorted(schedule)


def test_jitter_stretches_within_bound():
    delays = [
        next_step(1, 'status', schedule=[100], jitter=0.1, rand=lambda: r)[1]
        for r in (0, 0.5, 0.999)]

    assert delays[0] == 100
    assert 100 < delays[1] < delays[2] < 110


@pytest.mark.parametrize('header, expected', [
        ('120', 120),
        (None, None),
        ('', None),
        ('soon', None),
        ('-5', None),
        ('Wed, 21 Oct 2015 07:28:00', None),
        ])
def test_retry_after_seconds(header, expected):
    assert sender.retry_after_seconds(header) == expected


def test_retry_after_date():
    now = time.time()
    header = email.utils.formatdate(now + 60, usegmt=True)

    assert 58 <= sender.retry_after_seconds(header, now=now) <= 61


def test_loggable_headers_drop_signatures():
    headers = signing.headers(
        [signing.generate_secret()], 'evt_3', 1, BODY)

    logged = sender.loggable_headers(headers)

    assert logged['webhook-id'] == 'evt_3'
    assert 'v1,' not in logged['webhook-signature']
