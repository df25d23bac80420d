"""The three apps under test and the requests each gets per operation.

Every app serves the same contacts to the same user (admin) and reads the
same fields: names, job title, account, email, phone, creation and last
change times.  The list pages walk contacts in id order, 100 at a time.
The public API pages by its keyset cursor and the minimal app by the last
id seen.  Tryton's /rest pages by offset, with its ``p`` and ``s``
parameters, because a ``Range`` header would add a count query.
"""
import base64
import json
import os
import sys

import requests

from crm_public_api import cursor as cursors
from tests import harness

from . import APPS, PAGE, load

REST_FIELDS = [
    'first_name', 'last_name', 'name', 'email', 'phone', 'job_title',
    'account', 'create_date', 'write_date']
NEW_CONTACT = {
    'first_name': "Bench", 'last_name': "Created",
    'email': "bench.created@example.com"}


def b64_json(value):
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


class Targets:
    "Where and how to reach the apps: URLs, keys and record positions"

    def __init__(self, database, server_url, minimal_url, api_key,
            rest_key, first_id, last_id, deep_after, deep_offset):
        self.database = database
        self.server_url = server_url
        self.minimal_url = minimal_url
        self.api_key = api_key
        self.rest_key = rest_key
        self.first_id = first_id
        self.last_id = last_id
        self.deep_after = deep_after
        self.deep_offset = deep_offset

    @property
    def api(self):
        return self.server_url + '/api/v1/crm'

    @property
    def rest(self):
        return f'{self.server_url}/{self.database}/rest/model/party.party'

    def request(self, app, operation):
        "Return the load.Request of an operation on an app"
        return getattr(self, f'{app}_request')(operation)

    def api_request(self, operation):
        headers = {'Authorization': f'Bearer {self.api_key}'}
        ids = (self.first_id, self.last_id)
        if operation == 'get':
            return load.Request(
                'GET', self.api + '/contacts/{id}', headers, id_range=ids)
        if operation == 'list_first':
            return load.Request(
                'GET', f'{self.api}/contacts?limit={PAGE}', headers)
        if operation == 'list_deep':
            # This is the cursor that the API returns after this contact in
            # a walk by id with no filter, as check() verifies.
            cursor = cursors.encode(
                [], self.deep_after, cursors.query_digest('', []))
            return load.Request(
                'GET', f'{self.api}/contacts?limit={PAGE}&cursor={cursor}',
                headers)
        return load.Request(
            'POST', self.api + '/contacts',
            {**headers, 'Content-Type': 'application/json'},
            body=json.dumps(NEW_CONTACT))

    def rest_request(self, operation):
        headers = {'Authorization': f'Bearer {self.rest_key}'}
        fields = '&'.join(f'f={f}' for f in REST_FIELDS)
        if operation == 'get':
            return load.Request(
                'GET', self.rest + '/{id}?' + fields, headers,
                id_range=(self.first_id, self.last_id))
        if operation in {'list_first', 'list_deep'}:
            offset = 0 if operation == 'list_first' else self.deep_offset
            domain = b64_json([['kind', '=', 'person']])
            order = b64_json([['id', 'ASC']])
            return load.Request(
                'GET', f'{self.rest}?d={domain}&o={order}&s={PAGE}'
                f'&p={offset}&{fields}', headers)
        return load.Request(
            'POST', f'{self.rest}?{fields}',
            {**headers, 'Content-Type': 'application/json'},
            body=json.dumps({'kind': 'person', **NEW_CONTACT}))

    def minimal_request(self, operation):
        url = self.minimal_url + '/contacts'
        if operation == 'get':
            return load.Request(
                'GET', url + '/{id}', {},
                id_range=(self.first_id, self.last_id))
        if operation in {'list_first', 'list_deep'}:
            after = 0 if operation == 'list_first' else self.deep_after
            return load.Request(
                'GET', f'{url}?limit={PAGE}&after={after}', {})
        return load.Request(
            'POST', url, {'Content-Type': 'application/json'},
            body=json.dumps(NEW_CONTACT))


class CheckFailed(RuntimeError):
    pass


def check(targets):
    """Send each read once to every app and raise CheckFailed unless the
    three return the same contacts, so the load measures equivalent work"""
    for operation in ['get', 'list_first', 'list_deep']:
        ids = {}
        for app in APPS:
            response = send_once(targets.request(app, operation))
            if response.status_code != 200:
                raise CheckFailed(
                    f"{app} {operation}: HTTP {response.status_code} "
                    f"{response.text[:300]}")
            document = response.json()
            if operation == 'get':
                ids[app] = [document['id']]
            elif app == 'rest':
                ids[app] = [row['id'] for row in document]
            else:
                ids[app] = [row['id'] for row in document['data']]
        if not (ids['api'] == ids['rest'] == ids['minimal']) \
                or len(ids['api']) != (1 if operation == 'get' else PAGE):
            raise CheckFailed(
                f"{operation}: the apps returned different records "
                f"(first ids {[i[:3] for i in ids.values()]})")

    # The deep cursor must be the one a client walking the API receives.
    before = targets.deep_after - PAGE
    response = requests.get(
        targets.api + '/contacts', params={
            'limit': PAGE, 'cursor': cursors.encode(
                [], before, cursors.query_digest('', []))},
        headers={'Authorization': f'Bearer {targets.api_key}'}, timeout=30)
    deep = targets.request('api', 'list_deep').url.split('cursor=')[1]
    if response.json().get('next_cursor') != deep:
        raise CheckFailed("the deep cursor differs from the API's own")


def send_once(request):
    "Send one request like wrk would, with a fixed id, and return it"
    url = request.url
    if request.id_range:
        url = url.replace('{id}', str(request.id_range[0]))
    return requests.request(
        request.method, url, headers=request.headers, data=request.body,
        timeout=30)


class MinimalServer(harness.Server):
    "bench.minimal in its own process on a loopback port"
    name = 'bench.minimal'

    def command(self):
        return [sys.executable, '-m', 'bench.minimal', '--database',
            self.database, '--port', str(self.port)]

    @property
    def probe_url(self):
        return self.url + '/contacts?limit=1'


def minimal_environment():
    return {
        key: value for key, value in os.environ.items()
        if not key.startswith('TRYTOND_') or key == 'TRYTOND_DATABASE_URI'}
