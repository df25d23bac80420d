"""A minimal contacts app: the floor the public API is compared with.

    python -m bench.minimal --database NAME --port N

Each request runs one SQL statement through a psycopg2 connection pool and
returns the same JSON shape as the public API's contacts:

- ``GET /contacts/<id>``: one contact by primary key;
- ``GET /contacts?limit=N&after=ID``: a page of contacts in id order,
  starting after the id (keyset paging on the primary key);
- ``POST /contacts``: insert a person and its email in one statement.

It has no authentication, access rights, validation beyond the minimum or
transaction retries, and it is served by the same Werkzeug threaded server
that ``trytond`` uses, so the difference with the public API is what
Tryton and our layer cost.
"""
import argparse
import json
import os
import re
import urllib.parse

from psycopg2.pool import ThreadedConnectionPool
from werkzeug.serving import run_simple

COLUMNS = (
    "p.id, p.first_name, p.last_name, p.name, p.job_title, p.account, "
    "p.create_date, p.write_date, "
    "(SELECT m.value FROM party_contact_mechanism AS m "
    "WHERE m.party = p.id AND m.type = 'email' AND m.active "
    "ORDER BY m.sequence NULLS FIRST, m.id LIMIT 1) AS email, "
    "(SELECT m.value FROM party_contact_mechanism AS m "
    "WHERE m.party = p.id AND m.type = 'phone' AND m.active "
    "ORDER BY m.sequence NULLS FIRST, m.id LIMIT 1) AS phone")
ONE = (
    f"SELECT {COLUMNS} FROM party_party AS p "
    "WHERE p.id = %s AND p.kind = 'person' AND p.active")
PAGE = (
    f"SELECT {COLUMNS} FROM party_party AS p "
    "WHERE p.id > %s AND p.kind = 'person' AND p.active "
    "ORDER BY p.id LIMIT %s")
CREATE = (
    "WITH p AS ("
    "INSERT INTO party_party (code, name, first_name, last_name, job_title, "
    "kind, active, create_date, create_uid) "
    "VALUES ('minimal-' || gen_random_uuid(), %(name)s, %(first_name)s, "
    "%(last_name)s, %(job_title)s, 'person', true, "
    "now() AT TIME ZONE 'UTC', 1) RETURNING *), "
    "m AS (INSERT INTO party_contact_mechanism (party, type, value, "
    "value_compact, active, create_date, create_uid) "
    "SELECT p.id, 'email', %(email)s, %(email)s, true, p.create_date, 1 "
    "FROM p WHERE %(email)s IS NOT NULL RETURNING value) "
    "SELECT p.id, p.first_name, p.last_name, p.name, p.job_title, "
    "p.account, p.create_date, p.write_date, (SELECT value FROM m), "
    "NULL FROM p")
CONTACT = re.compile(r'^/contacts/(\d{1,10})$')
MAX_LIMIT = 100
MAX_BODY = 64 * 1024


def timestamp(value):
    if value is None:
        return None
    return value.isoformat(
        timespec='microseconds' if value.microsecond else 'seconds') + 'Z'


def contact(row):
    (id_, first_name, last_name, name, job_title, account, create_date,
        write_date, email, phone) = row
    return {
        'id': id_, 'first_name': first_name, 'last_name': last_name,
        'name': name, 'email': email or None, 'phone': phone or None,
        'job_title': job_title, 'account_id': account,
        'created_at': timestamp(create_date),
        'updated_at': timestamp(write_date or create_date),
        }


class App:
    def __init__(self, dsn, connections):
        self.pool = ThreadedConnectionPool(1, connections, dsn)

    def query(self, sql, parameters):
        connection = self.pool.getconn()
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(sql, parameters)
                return cursor.fetchall()
        finally:
            self.pool.putconn(connection)

    def __call__(self, environ, start_response):
        status, document = self.route(environ)
        body = json.dumps(document).encode()
        start_response(status, [
                ('Content-Type', 'application/json'),
                ('Content-Length', str(len(body))),
                ])
        return [body]

    def route(self, environ):
        method, path = environ['REQUEST_METHOD'], environ['PATH_INFO']
        match = CONTACT.match(path)
        if match and method == 'GET':
            rows = self.query(ONE, (int(match.group(1)),))
            if not rows:
                return '404 Not Found', {'detail': "no such contact"}
            return '200 OK', contact(rows[0])
        if path == '/contacts' and method == 'GET':
            return self.page(urllib.parse.parse_qs(environ['QUERY_STRING']))
        if path == '/contacts' and method == 'POST':
            return self.create(environ)
        return '404 Not Found', {'detail': "no such route"}

    def page(self, args):
        try:
            limit = int(args.get('limit', ['25'])[0])
            after = int(args.get('after', ['0'])[0])
        except ValueError:
            return '400 Bad Request', {'detail': "limit and after are ints"}
        if not 1 <= limit <= MAX_LIMIT:
            return '400 Bad Request', {'detail': "limit is 1 to 100"}
        rows = self.query(PAGE, (after, limit + 1))
        data = [contact(r) for r in rows[:limit]]
        more = len(rows) > limit
        return '200 OK', {
            'data': data, 'next_after': data[-1]['id'] if more else None}

    def create(self, environ):
        length = int(environ.get('CONTENT_LENGTH') or 0)
        if length > MAX_BODY:
            return '413 Content Too Large', {'detail': "body too large"}
        try:
            body = json.loads(environ['wsgi.input'].read(length))
        except ValueError:
            return '400 Bad Request', {'detail': "body is not JSON"}
        if not isinstance(body, dict):
            return '400 Bad Request', {'detail': "body is not an object"}
        values = {k: body.get(k) for k in [
                'first_name', 'last_name', 'job_title', 'email']}
        if not all(isinstance(v, (str, type(None))) for v in values.values()):
            return '400 Bad Request', {'detail': "attributes are strings"}
        values['name'] = ' '.join(filter(None, [
                    values['first_name'], values['last_name']])) or None
        rows = self.query(CREATE, values)
        return '201 Created', contact(rows[0])


def dsn(database):
    "Return a libpq connection string for the database on TRYTOND's server"
    parts = urllib.parse.urlparse(
        os.environ.get('TRYTOND_DATABASE_URI', 'postgresql://'))
    fields = {
        'host': parts.hostname or '127.0.0.1', 'port': parts.port or 5432,
        'user': parts.username, 'password': parts.password,
        'dbname': database}
    return ' '.join(f"{k}='{v}'" for k, v in fields.items() if v)


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m bench.minimal')
    parser.add_argument('--database', required=True)
    parser.add_argument('--port', type=int, required=True)
    parser.add_argument(
        '--connections', type=int, default=16,
        help="maximum size of the connection pool")
    options = parser.parse_args(argv)
    app = App(dsn(options.database), options.connections)
    run_simple('127.0.0.1', options.port, app, threaded=True)


if __name__ == '__main__':
    main()
