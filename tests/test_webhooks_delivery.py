"""Delivery of webhook events: retries, failures, the delivery log, test
calls, redelivery, replay and secret rotation, against receivers on
loopback with the compressed schedule of webhook_fixtures."""
import time

from .webhook_fixtures import (  # noqa: F401
    Receiver, hooks_client, hooks_config, hooks_server, hooks_worker,
    receiver, subscribe, verify)


def create_contact(client, name='Retry'):
    response = client.post('/contacts', json={'first_name': name})
    assert response.status_code == 201, response.text
    return response.json()


def deliveries(client, webhook, **params):
    response = client.get(
        f"/webhooks/{webhook['id']}/deliveries", params=params)
    assert response.status_code == 200, response.text
    return response.json()['data']


def wait_for_status(client, webhook, status, count=1, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = deliveries(client, webhook, status=status)
        if len(found) >= count:
            return found
        time.sleep(0.2)
    raise AssertionError(
        f"no {count} {status} deliveries in {timeout} s: "
        f"{deliveries(client, webhook)}")


def test_retries_keep_id_and_body_and_grow_gaps(
        hooks_client, subscribe, receiver):
    receiver.statuses = [500, 502, 503]
    webhook = subscribe(receiver, ['contact.created'])

    create_contact(hooks_client)
    requests = receiver.wait_for(4, timeout=30)

    assert len({r.id for r in requests}) == 1
    assert len({r.body for r in requests}) == 1
    for received in requests:
        verify(received, webhook['secret'])
    gaps = [b.at - a.at for a, b in zip(requests, requests[1:])]
    assert gaps[0] >= 1
    assert gaps[0] < gaps[1] < gaps[2]
    timestamps = [int(r.headers['webhook-timestamp']) for r in requests]
    assert timestamps[-1] > timestamps[0]


def test_delivery_log_shows_every_attempt(
        hooks_client, subscribe, receiver):
    receiver.statuses = [500]
    receiver.respond = None
    webhook = subscribe(receiver, ['contact.created'])

    contact = create_contact(hooks_client, 'Logged')
    received = receiver.wait_for(2, timeout=20)
    delivery, = wait_for_status(hooks_client, webhook, 'succeeded')

    assert delivery['event_type'] == 'contact.created'
    assert delivery['payload']['data'] == contact
    assert delivery['attempt_count'] == 2
    assert [a['response_status'] for a in delivery['attempts']] == [500, 200]
    assert [a['error_kind'] for a in delivery['attempts']] == ['status', None]
    first = delivery['attempts'][0]
    assert first['request_headers']['webhook-id'] == delivery['event_id']
    assert 'v1,' not in first['request_headers']['webhook-signature']
    # The log names every header the receiver got.
    assert set(first['request_headers']) == set(received[0].headers)
    assert first['request_headers']['host'] == received[0].headers['host']
    assert delivery['attempts'][1]['response_body'] == 'ok'


def test_response_body_is_cut_to_one_kilobyte(
        hooks_client, subscribe, receiver):
    receiver.respond = lambda received: (200, {}, b'x' * 5000)
    webhook = subscribe(receiver, ['contact.created'])

    create_contact(hooks_client, 'Long')
    receiver.wait_for(1)
    delivery, = wait_for_status(hooks_client, webhook, 'succeeded')

    assert delivery['attempts'][0]['response_body'] == 'x' * 1024


def test_gone_disables_webhook(hooks_client, subscribe, receiver):
    receiver.statuses = [410]
    webhook = subscribe(receiver, ['contact.created'])

    create_contact(hooks_client, 'Gone')
    receiver.wait_for(1)
    failed, = wait_for_status(hooks_client, webhook, 'failed')
    create_contact(hooks_client, 'After Gone')

    stored = hooks_client.get(f"/webhooks/{webhook['id']}").json()
    assert stored['active'] is False
    assert '410' in stored['disabled_reason']
    assert failed['attempt_count'] == 1
    assert failed['attempts'][0]['error_kind'] == 'gone'
    receiver.stay_quiet(1.5)


def test_redirect_is_a_failure_and_not_followed(
        hooks_client, subscribe, receiver):
    target = Receiver()
    try:
        receiver.respond = lambda received: (
            302, {'Location': target.url}) if len(receiver.requests) < 1 \
            else (200, {})
        webhook = subscribe(receiver, ['contact.created'])

        create_contact(hooks_client, 'Redirected')
        receiver.wait_for(2, timeout=20)
        delivery, = wait_for_status(hooks_client, webhook, 'succeeded')

        assert delivery['attempts'][0]['response_status'] == 302
        assert delivery['attempts'][0]['error_kind'] == 'redirect'
        assert target.requests == []
    finally:
        target.stop()


def test_retry_after_is_honoured(hooks_client, subscribe, receiver):
    receiver.respond = lambda received: (
        503, {'Retry-After': '3'}) if not receiver.requests else (200, {})
    subscribe(receiver, ['contact.created'])

    create_contact(hooks_client, 'Later')
    first, second = receiver.wait_for(2, timeout=20)

    # The schedule alone would retry after 1 to 1.1 s.
    assert second.at - first.at >= 3


def test_timeout_is_retried(hooks_client, subscribe, receiver):
    def slow_then_fast(received):
        if len(receiver.requests) == 0:
            time.sleep(4)
        return 200, {}
    receiver.respond = slow_then_fast
    webhook = subscribe(receiver, ['contact.created'])

    create_contact(hooks_client, 'Slow')
    receiver.wait_for(2, timeout=30)
    delivery, = wait_for_status(hooks_client, webhook, 'succeeded')

    assert [a['error_kind'] for a in delivery['attempts']] == [
        'timeout', None]
    assert delivery['attempts'][0]['duration_ms'] < 4000


def test_refused_connection_retried_until_back(
        hooks_client, subscribe):
    receiver = Receiver()
    port = receiver.port
    receiver.stop()
    webhook = subscribe(receiver, ['contact.created'])

    create_contact(hooks_client, 'Offline')
    retrying, = wait_for_status(hooks_client, webhook, 'retrying')
    time.sleep(1.5)
    back = Receiver(port=port)
    try:
        received, = back.wait_for(1, timeout=20)
        delivered, = wait_for_status(hooks_client, webhook, 'succeeded')
    finally:
        back.stop()

    assert retrying['attempts'][0]['error_kind'] == 'connection'
    assert received.id == retrying['event_id']
    assert delivered['attempt_count'] >= 2


def test_exhausted_delivery_fails_and_replays(
        hooks_client, subscribe, receiver):
    receiver.respond = lambda received: (500, {})
    webhook = subscribe(receiver, ['contact.created'])
    started = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(
            time.time() - 5))

    create_contact(hooks_client, 'Exhausted')
    failed, = wait_for_status(hooks_client, webhook, 'failed', timeout=40)
    receiver.respond = None
    replayed = hooks_client.post(
        f"/webhooks/{webhook['id']}/replay", json={'since': started})
    requests = receiver.wait_for(7, timeout=20)
    delivered, = wait_for_status(hooks_client, webhook, 'succeeded')

    assert failed['attempt_count'] == 6
    assert [a['response_status'] for a in failed['attempts']] == [500] * 6
    assert replayed.status_code == 202
    assert replayed.json() == {'replayed': 1}
    assert requests[-1].id == failed['event_id']
    assert requests[-1].body == requests[0].body
    assert delivered['id'] == failed['id']
    # A replay gives a fresh allowance of retries, and the log numbers its
    # attempts on from the last one.
    assert delivered['attempt_count'] == 1
    assert [a['number'] for a in delivered['attempts']] == list(range(1, 8))


def test_replay_skips_failures_before_since(
        hooks_client, subscribe, receiver):
    receiver.statuses = [410]
    webhook = subscribe(receiver, ['contact.created'])
    create_contact(hooks_client, 'Old failure')
    wait_for_status(hooks_client, webhook, 'failed')
    hooks_client.patch(f"/webhooks/{webhook['id']}", json={'active': True})

    replayed = hooks_client.post(
        f"/webhooks/{webhook['id']}/replay",
        json={'since': '2999-01-01T00:00:00Z'})

    assert replayed.json() == {'replayed': 0}


def test_redeliver_sends_same_event_again(
        hooks_client, subscribe, receiver):
    webhook = subscribe(receiver, ['contact.created'])
    create_contact(hooks_client, 'Again')
    first, = receiver.wait_for(1)
    delivery, = wait_for_status(hooks_client, webhook, 'succeeded')

    response = hooks_client.post(f"/deliveries/{delivery['id']}/redeliver")
    first, second = receiver.wait_for(2)

    assert response.status_code == 202
    assert second.id == first.id
    assert second.body == first.body
    verify(second, webhook['secret'])


def test_redeliver_unknown_delivery_is_not_found(hooks_client):
    response = hooks_client.post('/deliveries/999999/redeliver')

    assert response.status_code == 404


def test_ping_reports_the_attempt(hooks_client, subscribe, receiver):
    webhook = subscribe(receiver, ['contact.created'])

    response = hooks_client.post(f"/webhooks/{webhook['id']}/test")
    received, = receiver.wait_for(1)

    assert response.status_code == 200, response.text
    result = response.json()
    assert result['succeeded'] is True
    assert result['delivery']['event_type'] == 'ping'
    assert result['delivery']['attempts'][0]['response_status'] == 200
    payload = verify(received, webhook['secret'])
    assert payload['type'] == 'ping'
    assert payload['data']['webhook_id'] == webhook['id']


def test_failed_ping_is_not_retried(hooks_client, subscribe, receiver):
    receiver.statuses = [500]
    webhook = subscribe(receiver, ['contact.created'])

    result = hooks_client.post(f"/webhooks/{webhook['id']}/test").json()

    assert result['succeeded'] is False
    assert result['delivery']['status'] == 'failed'
    assert result['delivery']['attempts'][0]['response_status'] == 500
    receiver.stay_quiet(1.5)


def test_deliveries_filter_and_page(hooks_client, subscribe, receiver):
    webhook = subscribe(receiver, ['contact.created', 'contact.updated'])
    contact = create_contact(hooks_client, 'Paged')
    hooks_client.patch(
        f"/contacts/{contact['id']}", json={'last_name': 'Page'})
    hooks_client.post(f"/webhooks/{webhook['id']}/test")
    receiver.wait_for(3)

    first = hooks_client.get(
        f"/webhooks/{webhook['id']}/deliveries", params={'limit': 2}).json()
    second = hooks_client.get(
        f"/webhooks/{webhook['id']}/deliveries",
        params={'limit': 2, 'cursor': first['next_cursor']}).json()
    updated = deliveries(
        hooks_client, webhook, event_type='contact.updated')
    bad = hooks_client.get(
        f"/webhooks/{webhook['id']}/deliveries", params={'status': 'lost'})

    assert [d['event_type'] for d in first['data'] + second['data']] == [
        'ping', 'contact.updated', 'contact.created']
    assert second['next_cursor'] is None
    assert [d['event_type'] for d in updated] == ['contact.updated']
    assert bad.status_code == 400


def test_rotation_signs_with_both_secrets_during_grace(
        hooks_client, subscribe, receiver):
    webhook = subscribe(receiver, ['contact.created'])

    rotated = hooks_client.post(
        f"/webhooks/{webhook['id']}/rotate-secret").json()
    hooks_client.post(f"/webhooks/{webhook['id']}/test")
    received, = receiver.wait_for(1)

    assert rotated['secret'] != webhook['secret']
    assert rotated['previous_secret_expires_at'] is not None
    assert len(received.headers['webhook-signature'].split(' ')) == 2
    verify(received, rotated['secret'])
    verify(received, webhook['secret'])


def test_rotation_without_grace_drops_old_secret(
        hooks_client, subscribe, receiver):
    import pytest
    from standardwebhooks.webhooks import WebhookVerificationError
    webhook = subscribe(receiver, ['contact.created'])

    rotated = hooks_client.post(
        f"/webhooks/{webhook['id']}/rotate-secret",
        params={'grace_period': 0}).json()
    hooks_client.post(f"/webhooks/{webhook['id']}/test")
    received, = receiver.wait_for(1)

    assert len(received.headers['webhook-signature'].split(' ')) == 1
    verify(received, rotated['secret'])
    with pytest.raises(WebhookVerificationError):
        verify(received, webhook['secret'])
