"""Real parts for the end-to-end tests: a database with the modules
installed, Tryton servers on loopback, and Tryton transactions in the test
process.

The database is PostgreSQL when TRYTOND_DATABASE_URI names it (as
``./run test`` sets it when a server responds), else SQLite.  Installing the
modules takes about a minute, so the first run builds a template database
named after a digest of the module sources and later runs copy it.
"""
import contextlib
import glob
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
KEY_SECRET = 'test-key-secret-not-for-production'
TEMPLATE_LOCK = 4_242_017
ADMIN_PASSWORD = 'admin-password-for-tests'
WEBHOOK_KEY = 'dGVzdC13ZWJob29rLWtleS0zMi1ieXRlcy1sb25nISE='


def modules():
    return sorted(
        name for name in os.listdir(ROOT)
        if os.path.isfile(os.path.join(ROOT, name, 'tryton.cfg')))


def sources_digest():
    digest = hashlib.sha256()
    for module in modules():
        for path in sorted(glob.glob(
                    os.path.join(ROOT, module, '**', '*'), recursive=True)):
            if path.endswith(('.py', '.xml', '.cfg')) \
                    and '__pycache__' not in path:
                digest.update(path.encode())
                with open(path, 'rb') as source:
                    digest.update(source.read())
    return digest.hexdigest()[:12]


def database_uri():
    return os.environ.get('TRYTOND_DATABASE_URI', 'sqlite://')


def is_postgresql():
    return database_uri().startswith('postgresql')


def base_environment(database, sqlite_path):
    environment = {
        key: value for key, value in os.environ.items()
        if not key.startswith('TRYTOND_') or key == 'TRYTOND_DATABASE_URI'}
    environment.update({
            'TRYTOND_DATABASE_URI': database_uri(),
            'TRYTOND_DATABASE__PATH': sqlite_path,
            'TRYTOND_CRM_API__DATABASE': database,
            'TRYTOND_CRM_API__KEY_SECRET': KEY_SECRET,
            'TRYTOND_CRM_WEBHOOK__ENCRYPTION_KEY': WEBHOOK_KEY,
            'PATH': BIN + os.pathsep + os.environ.get('PATH', ''),
            })
    return environment


def _admin(database, environment, log):
    with tempfile.NamedTemporaryFile('w', suffix='.pass') as password:
        password.write(ADMIN_PASSWORD + '\n')
        password.flush()
        subprocess.run(
            [os.path.join(BIN, 'trytond-admin'), '-d', database, '--all',
                '-u', *modules(), '--activate-dependencies',
                '--email', 'admin@example.com'],
            env={**environment, 'TRYTONPASSFILE': password.name},
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            check=True)
    subprocess.run(
        [sys.executable, '-m', 'crm.demo', '--database', database,
            '--company-only'],
        env=environment, stdout=log, stderr=subprocess.STDOUT, check=True)


def _pg_connect(dbname='postgres'):
    import psycopg
    parts = urllib.parse.urlparse(database_uri())
    connection = psycopg.connect(
        host=parts.hostname or '127.0.0.1', port=parts.port or 5432,
        user=parts.username or None, password=parts.password or None,
        dbname=dbname, autocommit=True)
    return connection


def _pg_exists(cursor, name):
    cursor.execute('SELECT 1 FROM pg_database WHERE datname = %s', (name,))
    return cursor.fetchone() is not None


def _build_pg_template(cursor, template, sqlite_path, log):
    import psycopg
    building = template + '_build'
    cursor.execute(f'DROP DATABASE IF EXISTS "{building}"')
    cursor.execute(f'CREATE DATABASE "{building}"')
    _admin(building, base_environment(building, sqlite_path), log)
    cursor.execute(f'ALTER DATABASE "{building}" RENAME TO "{template}"')

    # Templates of older sources only take space now.
    cursor.execute(
        "SELECT datname FROM pg_database WHERE datname LIKE 'crm\\_tpl\\_%%' "
        "AND datname <> %s", (template,))
    for stale, in cursor.fetchall():
        try:
            cursor.execute(f'DROP DATABASE "{stale}"')
        except psycopg.Error as exception:  # in use by another run
            log.write(f"kept {stale}: {exception}\n".encode())


def create_database(name, sqlite_path, log):
    "Create the database name with the modules installed, from a template"
    template = f'crm_tpl_{sources_digest()}'
    if is_postgresql():
        connection = _pg_connect()
        with connection.cursor() as cursor:
            # Concurrent test runs wait for one another to build it.
            cursor.execute('SELECT pg_advisory_lock(%s)', (TEMPLATE_LOCK,))
            try:
                if not _pg_exists(cursor, template):
                    _build_pg_template(cursor, template, sqlite_path, log)
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
                cursor.execute(
                    f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
            finally:
                cursor.execute(
                    'SELECT pg_advisory_unlock(%s)', (TEMPLATE_LOCK,))
        connection.close()
    else:
        cache = os.path.join(tempfile.gettempdir(), 'crm-test-templates')
        os.makedirs(cache, exist_ok=True)
        template_file = os.path.join(cache, template + '.sqlite')
        if not os.path.exists(template_file):
            building = os.path.join(cache, template + '_build.sqlite')
            open(building, 'w').close()
            _admin(template + '_build', base_environment(
                    template + '_build', cache), log)
            os.replace(building, template_file)
        shutil.copy(template_file, os.path.join(sqlite_path, name + '.sqlite'))


def drop_database(name, sqlite_path):
    if is_postgresql():
        connection = _pg_connect()
        with connection.cursor() as cursor:
            cursor.execute(
                'SELECT pg_terminate_backend(pid) FROM pg_stat_activity '
                'WHERE datname = %s AND pid <> pg_backend_pid()', (name,))
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.close()
    else:
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(sqlite_path, name + '.sqlite'))


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class Server:
    "A trytond process serving the API on a loopback port"
    name = 'trytond'

    def __init__(self, environment, database, log_path, extra_env=None):
        self.port = free_port()
        self.log_path = log_path
        self.environment = {
            **environment, **(extra_env or {}),
            'TRYTOND_WEB__LISTEN': f'127.0.0.1:{self.port}',
            }
        self.database = database
        self.process = None

    @property
    def url(self):
        return f'http://127.0.0.1:{self.port}'

    @property
    def api(self):
        return self.url + '/api/v1/crm'

    def command(self):
        return [os.path.join(BIN, 'trytond'), '-d', self.database, '-v']

    @property
    def probe_url(self):
        "A URL that answers once the server is ready"
        return self.api + '/openapi.json'

    def start(self, timeout=60):
        self.log = open(self.log_path, 'ab')
        self.process = subprocess.Popen(
            self.command(), env=self.environment, stdout=self.log,
            stderr=subprocess.STDOUT, cwd=ROOT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode}; "
                    f"see {self.log_path}")
            try:
                requests.get(self.probe_url, timeout=2)
                return self
            except requests.ConnectionError:
                time.sleep(0.2)
        raise RuntimeError(
            f"{self.name} did not respond within {timeout} s")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process:
            self.log.close()

    def logs(self):
        with open(self.log_path, 'rb') as log:
            return log.read().decode('utf-8', 'replace')


class Tryton:
    "Transactions on the test database from inside the test process"

    def __init__(self, database):
        from trytond.pool import Pool
        from trytond.transaction import Transaction
        self.database = database
        Pool.start()
        self.pool = Pool(database)
        with Transaction().start(database, 0, readonly=True):
            self.pool.init()

    @contextlib.contextmanager
    def transaction(self, user=0, readonly=False, context=None):
        from trytond.transaction import Transaction
        with Transaction().start(
                self.database, user, readonly=readonly,
                context=context or {}) as transaction:
            yield self.pool
            if not readonly:
                transaction.commit()
        from trytond.worker import run_task
        while transaction.tasks:
            run_task(self.pool, transaction.tasks.pop())

    def company_context(self):
        with self.transaction(readonly=True) as pool:
            company, = pool.get('company.company').search([], limit=1)
            return {'company': company.id}

    def issue_key(self, scopes, name='test', user='admin', expires_at=None,
            rate_limit=None):
        "Create an API key and return it in clear"
        from crm_public_api import scopes as scope_names
        if scopes == 'all':
            scopes = list(scope_names.SCOPES)
        with self.transaction() as pool:
            User = pool.get('res.user')
            user_record, = User.search([('login', '=', user)])
            _, key = pool.get('crm.api_key').issue(
                name, scopes, user_record.id, expires_at=expires_at,
                rate_limit=rate_limit)
        return key
