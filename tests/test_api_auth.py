"""API keys over HTTP: authentication, scopes, user rights, expiry,
revocation and where a key in clear may never appear"""
import datetime as dt
import hashlib
import hmac
import re

import pytest

from crm_public_api import keys

from . import harness
from .checks import KEY, new_tag, parse_timestamp, problem_of

WRITE_METHODS = {'post', 'put', 'patch', 'delete'}


def now():
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def api_key_record(pool, key):
    ApiKey = pool.get('crm.api_key')
    record, = ApiKey.search([('prefix', '=', key[:keys.DISPLAY_LENGTH])])
    return record


def mistype(key):
    "Return the key with one character of its random part changed"
    index = len(keys.PREFIX) + 5
    replacement = 'a' if key[index] != 'a' else 'b'
    return key[:index] + replacement + key[index + 1:]


def create_user(tryton, groups=()):
    "Create a Tryton user of the company in the groups; return its login"
    login = f'user-{new_tag()}'
    with tryton.transaction() as pool:
        User = pool.get('res.user')
        Group = pool.get('res.group')
        Company = pool.get('company.company')
        company, = Company.search([], limit=1)
        group_ids = [g.id for g in Group.search([('name', 'in', groups)])]
        assert len(group_ids) == len(groups)
        User.create([{
                    'name': f"API user {login}", 'login': login,
                    'companies': [('add', [company.id])],
                    'company': company.id,
                    'groups': [('add', group_ids)]}])
    return login


def test_me_describes_calling_key(tryton, client_for):
    expires_at = dt.datetime(2031, 5, 1, 12, 0)
    key = tryton.issue_key(
        ['contacts:read', 'deals:write'], name='Zapier', expires_at=expires_at)

    response = client_for(key).get('/me')

    assert response.status_code == 200, response.text
    me = response.json()
    assert me['name'] == 'Zapier'
    assert me['prefix'] == key[:12]
    assert me['scopes'] == ['contacts:read', 'deals:write']
    assert me['expires_at'] == '2031-05-01T12:00:00Z'
    assert me['user']['login'] == 'admin'


def test_issued_key_has_documented_format(tryton):
    first = tryton.issue_key(['contacts:read'])
    second = tryton.issue_key(['contacts:read'])

    assert KEY.fullmatch(first)
    assert KEY.fullmatch(second)
    assert first != second


def test_request_without_key_is_unauthenticated(client_for):
    response = client_for(None).get('/contacts')

    problem_of(response, 401)
    assert response.headers['WWW-Authenticate'].startswith('Bearer')


def test_scheme_is_case_insensitive(admin_key, client_for):
    client = client_for(None)

    response = client.get(
        '/me', headers={'Authorization': f'bearer {admin_key}'})

    assert response.status_code == 200, response.text


def malformed_headers(key):
    "Authorization headers that must all be answered with 401"
    return {
        'empty': '',
        'scheme only': 'Bearer',
        'other scheme': f'Basic {key}',
        'token scheme': f'Token {key}',
        'two tokens': f'Bearer {key} {key}',
        'truncated key': f'Bearer {key[:-1]}',
        'mistyped key': f'Bearer {mistype(key)}',
        'lower case prefix': f'Bearer CRM_{key[4:]}',
        'key without scheme': key,
        'not a key': 'Bearer hello',
        'latin-1 text': 'Bearer cl\xe9',
        'very long': 'Bearer ' + 'x' * 6000,
        'unknown key of valid format': f'Bearer {keys.generate_key()}',
        }


@pytest.mark.parametrize('case', list(malformed_headers('crm_x' * 8)))
def test_malformed_authorization_is_unauthenticated(
        admin_key, client_for, case):
    header = malformed_headers(admin_key)[case]

    response = client_for(None).get(
        '/contacts', headers={'Authorization': header})

    problem_of(response, 401)
    assert response.headers['WWW-Authenticate'].startswith('Bearer')
    assert admin_key not in response.text


def test_expired_key_is_rejected_at_once(tryton, client_for):
    key = tryton.issue_key(['contacts:read'], expires_at=now() + dt.timedelta(
            days=1))
    client = client_for(key)
    assert client.get('/me').status_code == 200

    with tryton.transaction() as pool:
        record = api_key_record(pool, key)
        record.expires_at = now() - dt.timedelta(seconds=1)
        record.save()
    response = client.get('/me')

    problem_of(response, 401)


def test_key_issued_expired_is_rejected(tryton, client_for):
    key = tryton.issue_key(
        ['contacts:read'], expires_at=now() - dt.timedelta(minutes=1))

    response = client_for(key).get('/me')

    problem_of(response, 401)


def test_revoked_key_is_rejected_at_once(tryton, client_for):
    key = tryton.issue_key(['contacts:read'])
    client = client_for(key)
    assert client.get('/me').status_code == 200

    with tryton.transaction() as pool:
        pool.get('crm.api_key').revoke([api_key_record(pool, key)])
    response = client.get('/me')

    problem_of(response, 401)


def served_spec(client):
    response = client.get('/openapi.json')
    assert response.status_code == 200, response.text
    return response.json()


def write_operations(spec):
    "Return (method, path, operation) of every write operation of the spec"
    return [
        (method, path, operation)
        for path, item in spec['paths'].items()
        for method, operation in item.items()
        if method in WRITE_METHODS and operation.get('security')]


def operation_scopes(operation):
    return [scope for requirement in operation['security']
        for scopes in requirement.values() for scope in scopes]


def example_body(spec, operation):
    "Return a body of the examples of the operation's request schema"
    if 'requestBody' not in operation:
        return None
    schema = operation['requestBody']['content']['application/json'][
        'schema']
    while '$ref' in schema:
        schema = spec['components']['schemas'][schema['$ref'].split('/')[-1]]
    return {
        name: prop['examples'][0]
        for name, prop in schema.get('properties', {}).items()
        if prop.get('examples')}


def list_ids(client, path):
    "Return the ids of the list at path, or None when it is not a list"
    response = client.get(path, params={'limit': 100})
    if response.status_code != 200 or 'data' not in response.json():
        return None
    return {record['id'] for record in client.walk(path, {'limit': 100})}


@pytest.fixture
def read_only_client(tryton, client, client_for):
    "A client whose key holds every read scope that the spec names"
    spec = served_spec(client)
    read_scopes = sorted({
            scope for item in spec['paths'].values()
            for operation in item.values() if isinstance(operation, dict)
            and operation.get('security')
            for scope in operation_scopes(operation)
            if scope.endswith(':read')})
    return client_for(tryton.issue_key(read_scopes, name='read only'))


def test_spec_lists_write_operations(client):
    operations = write_operations(served_spec(client))

    assert {(m, p) for m, p, _ in operations} >= {
        ('post', '/api/v1/crm/contacts'),
        ('patch', '/api/v1/crm/deals/{id}'),
        ('delete', '/api/v1/crm/activities/{id}')}


def test_every_write_operation_requires_write_scope(client):
    operations = write_operations(served_spec(client))

    for method, path, operation in operations:
        scopes = operation_scopes(operation)
        assert [s.endswith(':write') for s in scopes] == [True], (
            method, path, scopes)


def test_read_only_key_cannot_write_anything(client, read_only_client):
    spec = served_spec(client)
    base = '/api/v1/crm'
    operations = write_operations(spec)
    # Each list gets a record for its update and delete operations.
    for method, path, operation in operations:
        if method == 'post' and '{' not in path:
            client.post(path[len(base):], json=example_body(spec, operation))

    for method, path, operation in operations:
        collection = re.sub(r'/\{[^}]+\}.*$', '', path)[len(base):]
        before_ids = list_ids(client, collection)
        record_id = min(before_ids) if before_ids else 1
        target = re.sub(r'\{[^}]+\}', str(record_id), path)[len(base):]
        before = client.get(target).json()

        response = read_only_client.request(
            method.upper(), target, json=example_body(spec, operation))

        document = problem_of(response, 403)
        assert document['type'] == 'urn:crm:problem:missing-scope', (
            method, path)
        assert list_ids(client, collection) == before_ids, (method, path)
        assert client.get(target).json() == before, (method, path)


def test_read_only_key_can_read(read_only_client):
    response = read_only_client.get('/deals')

    assert response.status_code == 200, response.text


def test_write_scope_implies_read(tryton, client_for):
    client = client_for(tryton.issue_key(['contacts:write']))

    response = client.get('/contacts')

    assert response.status_code == 200, response.text


def test_scope_of_one_resource_grants_no_other(tryton, client_for):
    client = client_for(tryton.issue_key(['contacts:write']))

    response = client.get('/accounts')

    document = problem_of(response, 403)
    assert 'accounts:read' in document['detail']


def test_key_never_exceeds_rights_of_its_user(tryton, client_for, client):
    login = create_user(tryton)
    limited = client_for(tryton.issue_key('all', user=login))
    name = f"{new_tag()} forbidden"

    listed = limited.get('/deals')
    created = limited.post('/deals', json={'name': name})

    problem_of(listed, 403)
    problem_of(created, 403)
    assert client.get('/deals', params={'name': name}).json()['data'] == []
    assert limited.get('/contacts').status_code == 200


def test_key_of_deactivated_user_is_rejected(tryton, client_for):
    login = create_user(tryton, groups=['Sale Opportunity'])
    client = client_for(tryton.issue_key('all', user=login))
    assert client.get('/deals').status_code == 200

    with tryton.transaction() as pool:
        User = pool.get('res.user')
        User.write(User.search([('login', '=', login)]), {'active': False})
    response = client.post('/deals', json={'name': 'After leaving'})

    problem_of(response, 401)


def test_key_of_sales_user_may_use_deals(tryton, client_for):
    login = create_user(tryton, groups=['Sale Opportunity'])
    client = client_for(tryton.issue_key('all', user=login))

    response = client.post('/deals', json={'name': 'Granted'})

    assert response.status_code == 201, response.text


def test_last_use_is_written_once_a_minute(tryton, client_for):
    key = tryton.issue_key(['contacts:read'])
    client = client_for(key)

    client.get('/me')
    with tryton.transaction(readonly=True) as pool:
        first_use = api_key_record(pool, key).last_used_at
    client.get('/me')
    with tryton.transaction(readonly=True) as pool:
        second_use = api_key_record(pool, key).last_used_at

    assert first_use is not None
    assert abs(first_use - now()) < dt.timedelta(minutes=1)
    assert second_use == first_use


def test_last_use_is_written_again_later(tryton, client_for):
    key = tryton.issue_key(['contacts:read'])
    client = client_for(key)
    client.get('/me')
    earlier = now() - dt.timedelta(minutes=2)
    with tryton.transaction() as pool:
        record = api_key_record(pool, key)
        record.last_used_at = earlier
        record.save()

    client.get('/me')

    with tryton.transaction(readonly=True) as pool:
        assert api_key_record(pool, key).last_used_at > earlier


def test_key_is_stored_as_keyed_hash(tryton):
    key = tryton.issue_key(['contacts:read'])

    with tryton.transaction(readonly=True) as pool:
        record = api_key_record(pool, key)
        prefix, key_hash = record.prefix, record.key_hash

    assert prefix == key[:12]
    assert key_hash == hmac.new(
        harness.KEY_SECRET.encode(), key.encode(), hashlib.sha256
        ).hexdigest()


def text_columns(cursor):
    cursor.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = 'public' AND data_type IN "
        "('text', 'character varying', 'character', 'json', 'jsonb')")
    return cursor.fetchall()


def test_keys_in_clear_are_nowhere_in_database(
        tryton, client_for, admin_key, database):
    if not harness.is_postgresql():
        pytest.skip("the column scan is written for PostgreSQL")
    key = tryton.issue_key(['contacts:write'], name='scanned')
    client = client_for(key)
    client.post('/contacts', json={'first_name': 'Scan'})
    client.get('/me')
    client_for(mistype(key)).get('/me')
    connection = harness._pg_connect(database)
    found = []

    with connection.cursor() as cursor:
        columns = text_columns(cursor)
        for table, column in columns:
            for secret in (key, admin_key):
                cursor.execute(
                    f'SELECT 1 FROM "{table}" '
                    f'WHERE strpos("{column}"::text, %s) > 0 LIMIT 1',
                    (secret,))
                if cursor.fetchone():
                    found.append((table, column))
    connection.close()

    assert len(columns) > 100
    assert found == []


def test_keys_in_clear_are_nowhere_in_server_log(
        tryton, server, client_for, admin_key):
    key = tryton.issue_key(['contacts:read'], name='logged')
    unknown = keys.generate_key()
    client = client_for(key)
    client.get('/contacts', params={'first_name': 'Ada'})
    client.get('/contacts', params={'nickname': 'Ada'})
    client.post('/contacts', json={'first_name': 'Ada'})
    client.get('/contacts/2147483647')
    client_for(unknown).get('/me')
    client_for(mistype(key)).get('/me')
    # A client that puts its key in the URL by mistake
    client_for(None).get('/contacts', params={'api_key': key})

    log = server.logs()

    assert 'GET /api/v1/crm/contacts' in log
    for secret in (key, unknown, mistype(key), admin_key):
        assert secret not in log


def test_expiry_is_shown_in_utc(tryton, client_for):
    expires_at = now().replace(microsecond=0) + dt.timedelta(days=3)
    key = tryton.issue_key(['contacts:read'], expires_at=expires_at)

    shown = client_for(key).get('/me').json()['expires_at']

    assert parse_timestamp(shown) == expires_at.replace(
        tzinfo=dt.timezone.utc)
