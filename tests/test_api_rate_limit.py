"""Rate limits over HTTP: the budget of a key, its headers, a budget
shared by two server processes through Redis, and the moving window"""
import time

from .checks import problem_of, rate_limit_fields


def test_default_limit_is_100_per_minute(tryton, start_server, client_for):
    server = start_server()
    client = client_for(tryton.issue_key(['contacts:read']), server.api)

    response = client.get('/me')

    assert response.json()['rate_limit'] == 100
    assert rate_limit_fields(response)['q'] == 100
    assert rate_limit_fields(response)['w'] == 60


def test_every_counted_response_has_rate_limit_headers(tryton, client_for):
    client = client_for(tryton.issue_key(
            ['contacts:write', 'deals:write'], rate_limit=50))
    contact = client.post('/contacts', json={'first_name': 'Ada'}).json()
    open_deal = client.post('/deals', json={'name': 'Open'}).json()
    responses = {
        200: client.get('/contacts'),
        201: client.post('/contacts', json={'first_name': 'Bob'}),
        204: client.delete(f"/contacts/{contact['id']}"),
        400: client.get('/contacts', params={'nickname': 'Ada'}),
        403: client.get('/accounts'),
        404: client.get(f"/contacts/{contact['id']}"),
        'refused by Tryton': client.delete(f"/deals/{open_deal['id']}"),
        }

    for status, response in responses.items():
        assert 'RateLimit-Policy' in response.headers, status
        assert 'RateLimit' in response.headers, status


def test_remaining_budget_decreases_per_request(tryton, client_for):
    client = client_for(tryton.issue_key(['contacts:read'], rate_limit=20))

    remaining = [rate_limit_fields(client.get('/me'))['r'] for _ in range(3)]

    assert remaining == [19, 18, 17]


def test_key_over_its_own_limit_gets_429(tryton, client_for):
    client = client_for(tryton.issue_key(['contacts:read'], rate_limit=3))
    allowed = [client.get('/contacts') for _ in range(3)]

    refused = client.get('/contacts')

    assert [r.status_code for r in allowed] == [200, 200, 200]
    problem_of(refused, 429)
    assert 1 <= int(refused.headers['Retry-After']) <= 60
    assert rate_limit_fields(refused)['q'] == 3
    assert rate_limit_fields(refused)['r'] == 0


def test_limit_of_one_key_spares_others(tryton, client_for):
    spent = client_for(tryton.issue_key(['contacts:read'], rate_limit=1))
    spent.get('/me')
    other = client_for(tryton.issue_key(['contacts:read'], rate_limit=1))

    response = other.get('/me')

    assert spent.get('/me').status_code == 429
    assert response.status_code == 200, response.text


def test_two_servers_share_one_budget_in_redis(
        tryton, start_server, client_for, redis_uri):
    settings = {
        'crm_api__rate_limit': 10,
        'crm_api__rate_limit_storage': redis_uri}
    servers = [start_server(**settings), start_server(**settings)]
    key = tryton.issue_key(['contacts:read'])
    clients = [client_for(key, server.api) for server in servers]

    allowed = [clients[n % 2].get('/contacts') for n in range(10)]
    refused = [client.get('/contacts') for client in clients]

    assert [r.status_code for r in allowed] == [200] * 10
    remaining = [rate_limit_fields(r)['r'] for r in allowed]
    assert remaining == list(range(9, -1, -1))
    for response in refused:
        problem_of(response, 429)
        assert int(response.headers['Retry-After']) >= 1
        assert rate_limit_fields(response)['q'] == 10


def test_no_second_burst_at_window_edge(tryton, client_for):
    # A fixed window opened by the first request would admit a full budget
    # again 60 s later. The moving window admits only what has left it.
    client = client_for(tryton.issue_key(['contacts:read'], rate_limit=4))
    start = time.monotonic()
    early = [client.get('/me') for _ in range(2)]
    time.sleep(30)
    late = [client.get('/me') for _ in range(2)]
    time.sleep(max(0, start + 61 - time.monotonic()))

    after_edge = [client.get('/me') for _ in range(3)]

    assert [r.status_code for r in early + late] == [200] * 4
    assert [r.status_code for r in after_edge] == [200, 200, 429]
