"""Management of webhooks through the public API: CRUD, the secret,
scopes, errors, paging, the event catalogue and the OpenAPI document."""
from .checks import error_fields, problem_of
from .conftest import Client
from .webhook_fixtures import (  # noqa: F401
    SUBSCRIBABLE, hooks_client, hooks_config, hooks_server, hooks_worker,
    receiver, subscribe)


def test_secret_is_shown_only_on_create(hooks_client, subscribe, receiver):
    webhook = subscribe(receiver, ['contact.created'])

    fetched = hooks_client.get(f"/webhooks/{webhook['id']}")
    listed = hooks_client.get('/webhooks')

    assert webhook['secret'].startswith('whsec_')
    assert fetched.status_code == 200
    assert 'secret' not in fetched.json()
    assert {k: v for k, v in webhook.items() if k != 'secret'} \
        == fetched.json()
    assert all('secret' not in w for w in listed.json()['data'])
    assert webhook['secret'] not in listed.text


def test_webhook_update_and_delete(hooks_client, subscribe, receiver):
    webhook = subscribe(receiver, ['contact.created'])

    updated = hooks_client.patch(f"/webhooks/{webhook['id']}", json={
            'name': 'renamed', 'event_types': ['deal.won', 'deal.lost'],
            'active': False})
    deleted = hooks_client.delete(f"/webhooks/{webhook['id']}")
    missing = hooks_client.get(f"/webhooks/{webhook['id']}")

    assert updated.status_code == 200, updated.text
    assert updated.json()['name'] == 'renamed'
    assert sorted(updated.json()['event_types']) == ['deal.lost', 'deal.won']
    assert updated.json()['active'] is False
    assert deleted.status_code == 204
    problem_of(missing, 404)


def test_inactive_webhook_receives_nothing(
        hooks_client, subscribe, receiver):
    webhook = subscribe(receiver, ['contact.created'])
    hooks_client.patch(f"/webhooks/{webhook['id']}", json={'active': False})

    hooks_client.post('/contacts', json={'first_name': 'Unheard'})

    receiver.stay_quiet(1)


def test_invalid_webhook_body_lists_fields(hooks_client):
    response = hooks_client.post('/webhooks', json={
            'url': 42, 'event_types': ['contact.created', 'nope'],
            'colour': 'red'})

    assert sorted(error_fields(response)) == [
        'colour', 'event_types', 'name', 'url']


def test_ping_is_not_subscribable(hooks_client, receiver):
    response = hooks_client.post('/webhooks', json={
            'name': 'pings', 'url': receiver.url, 'event_types': ['ping']})

    assert error_fields(response) == ['event_types']
    message, = [e['message'] for e in response.json()['errors']]
    assert 'ping cannot be subscribed to' in message


def test_replay_requires_since(hooks_client, subscribe, receiver):
    webhook = subscribe(receiver, ['contact.created'])

    for body in [{}, {'since': None}]:
        response = hooks_client.post(
            f"/webhooks/{webhook['id']}/replay", json=body)

        assert error_fields(response) == ['since'], body


def test_webhooks_list_pages(hooks_client, subscribe, receiver):
    for _ in range(3):
        subscribe(receiver, ['contact.created'])

    first = hooks_client.get('/webhooks', params={'limit': 2}).json()
    rest = hooks_client.get('/webhooks', params={
            'limit': 2, 'cursor': first['next_cursor']}).json()
    tampered = hooks_client.get('/webhooks', params={'cursor': 'abc'})

    ids = [w['id'] for w in first['data'] + rest['data']]
    assert len(ids) >= 3
    assert ids == sorted(set(ids))
    problem_of(tampered, 400)


def test_webhook_scopes(tryton, hooks_server, subscribe, receiver):
    webhook = subscribe(receiver, ['contact.created'])
    reader = Client(hooks_server.api, tryton.issue_key(['webhooks:read']))
    outsider = Client(hooks_server.api, tryton.issue_key(['contacts:write']))

    assert reader.get('/webhooks').status_code == 200
    assert reader.get('/events/types').status_code == 200
    problem_of(reader.post('/webhooks', json={}), 403)
    problem_of(reader.post(f"/webhooks/{webhook['id']}/test"), 403)
    problem_of(outsider.get(f"/webhooks/{webhook['id']}/deliveries"), 403)
    problem_of(Client(hooks_server.api, None).get('/webhooks'), 401)


def test_event_catalogue(hooks_client):
    response = hooks_client.get('/events/types')

    assert response.status_code == 200
    types = {e['type']: e for e in response.json()['data']}
    assert set(types) == set(SUBSCRIBABLE) | {'ping'}
    assert types['deal.won']['resource'] == 'deals'
    assert all(e['description'] for e in types.values())
    assert {t for t, e in types.items() if e['subscribable']} == set(
        SUBSCRIBABLE)


def test_openapi_documents_webhook_operations(hooks_server):
    import requests
    document = requests.get(hooks_server.api + '/openapi.json').json()

    paths = document['paths']
    base = '/api/v1/crm'
    assert set(paths[base + '/webhooks']) == {'get', 'post'}
    assert set(paths[base + '/webhooks/{id}']) == {'get', 'patch', 'delete'}
    for path in ['/webhooks/{id}/rotate-secret', '/webhooks/{id}/test',
            '/webhooks/{id}/replay', '/deliveries/{id}/redeliver']:
        assert 'post' in paths[base + path]
    assert 'get' in paths[base + '/webhooks/{id}/deliveries']
    assert 'get' in paths[base + '/events/types']
    schemas = document['components']['schemas']
    assert 'secret' in schemas['WebhookCreated']['allOf'][1]['properties']
    assert 'secret' not in schemas['Webhook']['properties']
    assert 'webhooks:write' in document['components']['securitySchemes'][
        'apiKey']['description']
