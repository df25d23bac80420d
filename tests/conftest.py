import os
import sys
import uuid

import pytest
import requests

from . import harness


@pytest.fixture(scope='session')
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp('crm')


@pytest.fixture(scope='session')
def database(workdir):
    "A fresh database with every module installed and a company set up"
    name = f'crm_test_{uuid.uuid4().hex[:8]}'
    with open(workdir / 'admin.log', 'ab') as log:
        harness.create_database(name, str(workdir), log)
    # The test process runs Tryton too, on the same database.
    environment = harness.base_environment(name, str(workdir))
    for key, value in environment.items():
        if key.startswith('TRYTOND_'):
            os.environ[key] = value
    # trytond.config reads the environment once, on import; a test module
    # that imports a module of this repository imports it before.
    if 'trytond.config' in sys.modules:
        sys.modules['trytond.config']._config.update_environ()
        sys.modules['trytond.config']._cache_clear()
    yield name
    harness.drop_database(name, str(workdir))


@pytest.fixture(scope='session')
def environment(database, workdir):
    return harness.base_environment(database, str(workdir))


@pytest.fixture(scope='session')
def tryton(database):
    return harness.Tryton(database)


@pytest.fixture(scope='session')
def server(environment, database, workdir):
    "One API server for the session, with an in-memory rate limiter"
    server = harness.Server(
        environment, database, str(workdir / 'server.log'),
        {'TRYTOND_CRM_API__RATE_LIMIT': '100000'})
    server.start()
    yield server
    server.stop()


@pytest.fixture
def start_server(environment, database, workdir):
    "Factory of extra servers with their own settings, stopped after"
    servers = []

    def start(**settings):
        extra = {f'TRYTOND_{k.upper()}': str(v) for k, v in settings.items()}
        server = harness.Server(
            environment, database,
            str(workdir / f'server-{len(servers)}-{uuid.uuid4().hex[:4]}.log'),
            extra)
        servers.append(server)
        return server.start()
    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope='session')
def admin_key(tryton, server):
    return tryton.issue_key('all', name='admin key')


@pytest.fixture
def client(server, admin_key):
    return Client(server.api, admin_key)


@pytest.fixture
def client_for(server):
    "Factory of clients of the shared server that send a given key"
    def make(key, base=None):
        return Client(base or server.api, key)
    return make


@pytest.fixture(scope='session')
def redis_uri():
    "URI of the Redis server for shared rate limits; skips when it is down"
    import redis
    uri = os.environ.get('CRM_TEST_REDIS', 'redis://127.0.0.1:6379')
    try:
        redis.Redis.from_url(uri, socket_timeout=2).ping()
    except redis.RedisError as error:
        pytest.skip(f"Redis at {uri} is not reachable: {error}")
    return uri


class Client:
    "requests with the API base URL and a key"

    def __init__(self, base, key):
        self.base = base
        self.session = requests.Session()
        if key:
            self.session.headers['Authorization'] = f'Bearer {key}'

    def request(self, method, path, **kwargs):
        kwargs.setdefault('timeout', 30)
        return self.session.request(method, self.base + path, **kwargs)

    def get(self, path, **kwargs):
        return self.request('GET', path, **kwargs)

    def post(self, path, **kwargs):
        return self.request('POST', path, **kwargs)

    def patch(self, path, **kwargs):
        return self.request('PATCH', path, **kwargs)

    def delete(self, path, **kwargs):
        return self.request('DELETE', path, **kwargs)

    def walk(self, path, params=None, max_pages=200):
        """Return every record of a list, following next_cursor; fail if
        the cursors never end"""
        params = dict(params or {})
        records = []
        for _ in range(max_pages):
            response = self.get(path, params=params)
            assert response.status_code == 200, response.text
            page = response.json()
            records.extend(page['data'])
            if not page['next_cursor']:
                return records
            params['cursor'] = page['next_cursor']
        raise AssertionError(f"the walk did not end after {max_pages} pages")
