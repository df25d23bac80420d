"""Lists over HTTP: pages, keyset cursors, sort and filters.

Each test marks its records with a tag and filters on it, so records of
other tests in the shared database do not change what a list returns.
"""
import collections
import random
import threading
import time

import pytest

from .checks import error_fields, new_tag, parse_timestamp

STAGES = ['lead', 'opportunity', 'converted', 'won', 'lost', 'cancelled']
ACTIVITY_TYPES = ['call', 'email', 'meeting', 'note', 'task']


def create(client, resource, body):
    response = client.post(f'/{resource}', json=body)
    assert response.status_code == 201, response.text
    return response.json()


def walk(client, resource, params):
    "Return the records of a list of resource"
    return client.walk(f'/{resource}', params)


def walk_ids(client, resource, params):
    return [r['id'] for r in walk(client, resource, params)]


@pytest.fixture(scope='module')
def admin(server, admin_key):
    "A client for module-scoped fixtures, which cannot use client"
    from .conftest import Client
    return Client(server.api, admin_key)


@pytest.fixture(scope='module')
def account(admin):
    return create(admin, 'accounts', {'name': f"{new_tag()} Holdings"})


def test_list_has_data_and_next_cursor(client):
    tag = new_tag()
    for number in range(3):
        create(client, 'accounts', {'name': f"{tag} {number}"})

    page = client.get('/accounts', params={
            'name[contains]': tag, 'limit': 2}).json()

    assert set(page) == {'data', 'next_cursor'}
    assert len(page['data']) == 2
    assert isinstance(page['next_cursor'], str)


def test_last_page_has_null_cursor(client):
    tag = new_tag()
    create(client, 'accounts', {'name': tag})

    page = client.get('/accounts', params={'name[contains]': tag}).json()

    assert len(page['data']) == 1
    assert page['next_cursor'] is None


def test_default_page_holds_25_records(client):
    tag = new_tag()
    for number in range(26):
        create(client, 'accounts', {'name': f"{tag} {number:02d}"})

    page = client.get('/accounts', params={'name[contains]': tag}).json()

    assert len(page['data']) == 25
    assert page['next_cursor'] is not None


@pytest.mark.parametrize('limit', ['1', '100'])
def test_limit_bounds_are_accepted(client, limit):
    response = client.get('/contacts', params={'limit': limit})

    assert response.status_code == 200, response.text


@pytest.mark.parametrize('limit', ['0', '101', 'ten', '-1', '2.5', ''])
def test_limit_out_of_bounds_is_rejected(client, limit):
    response = client.get('/contacts', params={'limit': limit})

    assert error_fields(response) == ['limit']


# Sort values with ties and nulls: 24 contacts share 3 first names and 2
# job titles besides null.
FIRST_NAMES = ['Lin', 'Mory', 'Otto']
JOB_TITLES = [None, 'CTO', 'CEO']


@pytest.fixture(scope='module')
def tied_contacts(admin):
    tag = new_tag()
    records = [
        create(admin, 'contacts', {
                'first_name': FIRST_NAMES[n % 3],
                'last_name': tag,
                'job_title': JOB_TITLES[n // 3 % 3]})
        for n in range(24)]
    return tag, records


def expected_order(records, sort):
    "Sort records as the API promises: nulls first, then the id ascending"
    def value(record, name):
        if name.endswith('_at'):
            return parse_timestamp(record[name])
        return record[name]

    # Stable sorts from the last key to the first, as sorted() keeps the
    # order of equal records in either direction.
    ordered = sorted(records, key=lambda r: r['id'])
    for item in reversed(sort.split(',')):
        name = item.lstrip('-')
        descending = item.startswith('-')
        nulls = [r for r in ordered if r[name] is None]
        values = sorted(
            (r for r in ordered if r[name] is not None),
            key=lambda r: value(r, name), reverse=descending)
        ordered = values + nulls if descending else nulls + values
    return [r['id'] for r in ordered]


@pytest.mark.parametrize('sort', [
        'first_name', '-first_name', 'job_title', '-job_title',
        'job_title,-first_name', '-job_title,first_name', 'created_at'])
@pytest.mark.parametrize('limit', [1, 5])
def test_walk_with_ties_returns_each_once(
        client, tied_contacts, sort, limit):
    tag, records = tied_contacts

    ids = walk_ids(client, 'contacts', {
            'last_name': tag, 'sort': sort, 'limit': limit})

    assert ids == expected_order(records, sort)


@pytest.mark.parametrize('sort', ['job_title', '-job_title'])
def test_walk_over_empty_and_null_text_returns_each_once(client, sort):
    # Tryton stores "" (and a title of spaces, stripped) as '', not NULL.
    tag = new_tag()
    contacts = [
        create(client, 'contacts', {
                'first_name': 'Lin', 'last_name': tag, 'job_title': title})
        for title in ['', None, ' ', 'CTO', None, '', 'CTO', None, '']]

    ids = walk_ids(client, 'contacts', {
            'last_name': tag, 'sort': sort, 'limit': 1})

    assert sorted(ids) == sorted(c['id'] for c in contacts)
    assert len(ids) == len(set(ids))


@pytest.fixture(scope='module')
def deals_in_every_stage(admin, account):
    tag = new_tag()
    return tag, [
        create(admin, 'deals', {
                'name': f"{tag} {stage}", 'stage': stage,
                'account_id': account['id']})
        for stage in STAGES for _ in range(2)]


@pytest.mark.parametrize('limit', [1, 2, 5])
def test_walk_by_stage_follows_pipeline_order(
        client, deals_in_every_stage, limit):
    tag, deals = deals_in_every_stage

    walked = walk(client, 'deals', {
            'name[contains]': tag, 'sort': 'stage', 'limit': limit})

    assert [d['id'] for d in walked] == [d['id'] for d in deals]


@pytest.mark.parametrize('limit', [1, 2, 5])
def test_walk_by_descending_stage_reverses_pipeline_order(
        client, deals_in_every_stage, limit):
    tag, deals = deals_in_every_stage
    expected = [d['id'] for d in sorted(
            deals, key=lambda d: (-STAGES.index(d['stage']), d['id']))]

    walked = walk(client, 'deals', {
            'name[contains]': tag, 'sort': '-stage', 'limit': limit})

    assert [d['id'] for d in walked] == expected


@pytest.mark.parametrize('sort', ['done', '-done', 'done,-type'])
def test_walk_by_boolean_returns_each_once(client, sort):
    tag = new_tag()
    activities = [
        create(client, 'activities', {
                'subject': tag, 'done': n % 3 == 0,
                'type': ACTIVITY_TYPES[n % 5]})
        for n in range(9)]

    ids = walk_ids(client, 'activities', {
            'subject': tag, 'sort': sort, 'limit': 2})

    assert sorted(ids) == sorted(a['id'] for a in activities)
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize('sort', ['type', '-type'])
def test_walk_by_activity_type_returns_each_once(client, sort):
    tag = new_tag()
    activities = [
        create(client, 'activities', {'subject': tag, 'type': kind})
        for kind in ACTIVITY_TYPES for _ in range(2)]

    ids = walk_ids(client, 'activities', {
            'subject': tag, 'sort': sort, 'limit': 1})

    assert sorted(ids) == sorted(a['id'] for a in activities)
    assert len(ids) == len(set(ids))


class Writers:
    """Threads that insert, update and delete records of one list while a
    walk runs, each with its own HTTP session

    Each writer stops after its budget of writes, so inserts that land
    after the cursor cannot keep the walk going forever."""

    budgets = {'insert': 20, 'update': 40, 'delete': None}

    def __init__(self, client_for, key, resource, new_body, update_body,
            stable, doomed):
        self.client_for = client_for
        self.key = key
        self.resource = resource
        self.new_body = new_body
        self.update_body = update_body
        self.stable = stable
        self.doomed = list(doomed)
        self.counts = collections.Counter()
        self.failures = []
        self.stop = threading.Event()
        self.threads = [
            threading.Thread(target=self.loop, args=(action,))
            for action in (self.insert, self.update, self.delete)]

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc_info):
        self.stop.set()
        for thread in self.threads:
            thread.join(30)

    def working(self, name):
        if name == 'delete':
            return bool(self.doomed)
        return self.counts[name] < self.budgets[name]

    def loop(self, action):
        client = self.client_for(self.key)
        rng = random.Random()
        while not self.stop.is_set() and self.working(action.__name__):
            response = action(client, rng)
            if response.status_code >= 400:
                self.failures.append(response.text)
            self.counts[action.__name__] += 1
            # Leave the walk room to fetch pages between writes.
            time.sleep(0.01)

    def insert(self, client, rng):
        return client.post(f'/{self.resource}', json=self.new_body(rng))

    def update(self, client, rng):
        record = rng.choice(self.stable)
        return client.patch(
            f"/{self.resource}/{record['id']}", json=self.update_body(rng))

    def delete(self, client, rng):
        record = self.doomed.pop()
        return client.delete(f"/{self.resource}/{record['id']}")

    def wait_for_progress(self, before, timeout=10):
        "Wait until every writer still at work has written again"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self.counts[name] > before[name]
                    for name in ('insert', 'update', 'delete')
                    if self.working(name)):
                return
            time.sleep(0.005)
        raise AssertionError(f"writers stalled: {dict(self.counts)}")


def concurrent_cases(tag):
    "(resource, list params, create body, non-sort update) per resource"
    amounts = ['100.00', '200.00', '300.00']
    due = ['2027-01-01T09:00:00Z', '2027-01-02T09:00:00Z']
    return {
        'contacts': (
            {'last_name': tag, 'sort': 'first_name'},
            lambda rng, stage=None: {
                'first_name': rng.choice(FIRST_NAMES), 'last_name': tag},
            lambda rng: {'job_title': f"Title {rng.randrange(1000)}"}),
        'deals': (
            {'name[contains]': tag, 'sort': '-amount'},
            lambda rng, stage='lead': {
                'name': f"{tag} deal", 'amount': rng.choice(amounts),
                'stage': stage},
            lambda rng: {'probability': rng.randrange(100) / 100}),
        'activities': (
            {'subject': tag, 'sort': 'due_at,-done'},
            lambda rng, stage=None: {
                'subject': tag, 'due_at': rng.choice(due)},
            lambda rng: {'notes': f"Note {rng.randrange(1000)}"}),
        }


@pytest.mark.parametrize('resource', ['contacts', 'deals', 'activities'])
def test_walk_during_writes_returns_each_once(
        client, client_for, admin_key, resource):
    tag = new_tag()
    params, new_body, update_body = concurrent_cases(tag)[resource]
    rng = random.Random(7)
    stable = [create(client, resource, new_body(rng)) for _ in range(30)]
    # Tryton deletes only cancelled opportunities.
    doomed_body = (lambda: new_body(rng, 'cancelled')) \
        if resource == 'deals' else (lambda: new_body(rng))
    doomed = [create(client, resource, doomed_body()) for _ in range(15)]
    walked = []

    with Writers(client_for, admin_key, resource, new_body, update_body,
            stable, doomed) as writers:
        page_params = {**params, 'limit': 4}
        for _ in range(200):
            before = writers.counts.copy()
            page = client.get(f'/{resource}', params=page_params).json()
            walked.extend(r['id'] for r in page['data'])
            if not page['next_cursor']:
                break
            page_params['cursor'] = page['next_cursor']
            writers.wait_for_progress(before)
        else:
            raise AssertionError("the walk did not end after 200 pages")

    counts = collections.Counter(walked)
    assert writers.failures == []
    assert writers.counts['insert'] > 0
    assert writers.counts['update'] > 0
    assert writers.counts['delete'] > 0
    assert {r['id']: counts[r['id']] for r in stable} == {
        r['id']: 1 for r in stable}
    assert [i for i, n in counts.items() if n > 1] == []


def test_sort_by_minus_id_is_rejected(client):
    response = client.get('/contacts', params={'sort': '-id'})

    assert error_fields(response) == ['sort']


def test_cursor_of_other_filters_is_rejected(client):
    tag = new_tag()
    for number in range(2):
        create(client, 'accounts', {'name': f"{tag} {number}"})
    page = client.get('/accounts', params={
            'name[contains]': tag, 'limit': 1}).json()

    response = client.get('/accounts', params={
            'name[contains]': tag[:-1], 'limit': 1,
            'cursor': page['next_cursor']})

    assert error_fields(response) == ['cursor']


@pytest.fixture(scope='module')
def filter_data(admin):
    """Records to filter, by role: an account with two contacts, three
    deals and three activities, and another account"""
    tag = new_tag()
    account = create(admin, 'accounts', {'name': f"{tag} Filtered"})
    other = create(admin, 'accounts', {'name': f"{tag} Other"})
    ids = {'account': account['id'], 'other': other['id'], 'tag': tag}
    for role, first_name, domain in [
            ('ada', 'Ruth', 'example.com'), ('bob', 'Otto', 'example.org')]:
        ids[role] = create(admin, 'contacts', {
                'first_name': first_name, 'last_name': tag,
                'email': f'{first_name.lower()}.{tag}@{domain}',
                'account_id': account['id']})['id']
    for role, amount, stage, probability, close, contact, currency in [
            ('alpha', '100.00', 'lead', 0.1, '2027-01-10', 'ada', 'USD'),
            ('beta', '200.00', 'opportunity', 0.5, '2027-02-10', 'bob',
                'EUR'),
            ('gamma', '300.00', 'lost', 0.9, '2027-03-10', 'ada', 'USD')]:
        ids[role] = create(admin, 'deals', {
                'name': f"{tag} {role}", 'amount': amount, 'stage': stage,
                'probability': probability, 'expected_close_date': close,
                'contact_id': ids[contact], 'currency': currency,
                'account_id': account['id']})['id']
    for role, kind, done, due, notes, deal in [
            ('call', 'call', False, '2027-01-01T10:00:00Z',
                'pricing question', 'alpha'),
            ('email', 'email', True, '2027-01-02T10:00:00Z',
                'sent 100% discount', 'beta'),
            ('meeting', 'meeting', False, None, 'snake_case agenda', None)]:
        ids[role] = create(admin, 'activities', {
                'subject': f"{tag} {role}", 'type': kind, 'done': done,
                'due_at': due, 'notes': notes,
                'deal_id': ids[deal] if deal else None,
                'contact_id': ids['ada'], 'account_id': account['id']})['id']
    ids['elsewhere'] = create(admin, 'deals', {
            'name': f"{tag} elsewhere", 'account_id': other['id']})['id']
    return ids


# (resource, filters, roles of the expected records); "{role}" in a value
# stands for that record's id.
FILTER_CASES = [
    ('deals', {'amount': '200.00'}, ['beta']),
    ('deals', {'amount[eq]': '200.00'}, ['beta']),
    ('deals', {'amount[ne]': '200.00'}, ['alpha', 'gamma']),
    ('deals', {'amount[lt]': '200.00'}, ['alpha']),
    ('deals', {'amount[lte]': '200.00'}, ['alpha', 'beta']),
    ('deals', {'amount[gt]': '200.00'}, ['gamma']),
    ('deals', {'amount[gte]': '200.00'}, ['beta', 'gamma']),
    ('deals', {'amount[in]': '100.00,300'}, ['alpha', 'gamma']),
    ('deals', {'name': '{tag} alpha'}, ['alpha']),
    ('deals', {'name[ne]': '{tag} alpha'}, ['beta', 'gamma']),
    ('deals', {'name[in]': '{tag} alpha,{tag} gamma'}, ['alpha', 'gamma']),
    ('deals', {'name[contains]': 'BET'}, ['beta']),
    ('deals', {'stage': 'opportunity'}, ['beta']),
    ('deals', {'stage[ne]': 'lead'}, ['beta', 'gamma']),
    ('deals', {'stage[in]': 'lead,lost'}, ['alpha', 'gamma']),
    ('deals', {'probability[gte]': '0.5'}, ['beta', 'gamma']),
    ('deals', {'probability[lt]': '0.5'}, ['alpha']),
    ('deals', {'expected_close_date[lte]': '2027-02-10'}, ['alpha', 'beta']),
    ('deals', {'expected_close_date[gt]': '2027-02-10'}, ['gamma']),
    ('deals', {'currency': 'EUR'}, ['beta']),
    ('deals', {'currency[ne]': 'EUR'}, ['alpha', 'gamma']),
    ('deals', {'currency[in]': 'EUR,GBP'}, ['beta']),
    ('deals', {'contact_id': '{ada}'}, ['alpha', 'gamma']),
    ('deals', {'contact_id[in]': '{bob}'}, ['beta']),
    ('deals', {'id': '{beta}'}, ['beta']),
    ('deals', {'id[gt]': '{alpha}'}, ['beta', 'gamma']),
    ('deals', {'account_id[in]': '{account},{other}', 'stage': 'lead',
            'name[contains]': '{tag}'}, ['alpha', 'elsewhere']),
    ('activities', {'done': 'true'}, ['email']),
    ('activities', {'done': 'false'}, ['call', 'meeting']),
    ('activities', {'done[ne]': 'true'}, ['call', 'meeting']),
    ('activities', {'due_at[gte]': '2027-01-02T10:00:00Z'}, ['email']),
    ('activities', {'due_at[lt]': '2027-01-02T11:00:00+01:00'}, ['call']),
    ('activities', {'due_at[lte]': '2027-01-02T11:00:00+01:00'},
        ['call', 'email']),
    ('activities', {'notes[contains]': 'PRICING'}, ['call']),
    ('activities', {'notes[contains]': '%'}, ['email']),
    ('activities', {'notes[contains]': '_'}, ['meeting']),
    ('activities', {'type[in]': 'call,meeting'}, ['call', 'meeting']),
    ('activities', {'deal_id': '{alpha}'}, ['call']),
    ('activities', {'contact_id': '{ada}', 'type[ne]': 'call'},
        ['email', 'meeting']),
    ('contacts', {'email': 'ruth.{tag}@example.com'}, ['ada']),
    ('contacts', {'email[in]': 'ruth.{tag}@example.com,x@example.net'},
        ['ada']),
    ('contacts', {'email[contains]': '@example.org'}, ['bob']),
    ('contacts', {'first_name[in]': 'Ruth,Otto'}, ['ada', 'bob']),
    ('contacts', {'name[contains]': 'ruth'}, ['ada']),
    ('contacts', {'last_name': '{tag}', 'first_name[ne]': 'Ruth'}, ['bob']),
    ]


@pytest.mark.parametrize('resource,filters,roles', FILTER_CASES,
    ids=['-'.join([r, *f]) for r, f, _ in FILTER_CASES])
def test_filter_selects_matching_records(
        client, filter_data, resource, filters, roles):
    params = {k: v.format(**filter_data) for k, v in filters.items()}
    if not any(k.startswith('account_id') for k in params):
        params['account_id'] = filter_data['account']

    ids = walk_ids(client, resource, params)

    assert sorted(ids) == sorted(filter_data[r] for r in roles)


def test_updated_at_gte_returns_records_changed_since(client, account):
    tag = new_tag()
    old = create(client, 'activities', {
            'subject': tag, 'account_id': account['id']})
    changed = create(client, 'activities', {
            'subject': tag, 'account_id': account['id']})
    time.sleep(0.01)
    since = client.patch(
        f"/activities/{changed['id']}", json={'done': True}
        ).json()['updated_at']

    ids = walk_ids(client, 'activities', {
            'subject': tag, 'updated_at[gte]': since, 'sort': 'updated_at'})

    assert old['id'] not in ids
    assert ids == [changed['id']]


# (resource, query parameters, the parameter the 400 must name)
BAD_QUERIES = [
    ('contacts', {'nickname': 'Ada'}, 'nickname'),
    ('contacts', {'first_name[like]': 'Ada'}, 'first_name[like]'),
    ('contacts', {'first_name[gt]': 'Ada'}, 'first_name[gt]'),
    ('contacts', {'FIRST_NAME': 'Ada'}, 'FIRST_NAME'),
    ('contacts', {'first_name[]': 'Ada'}, 'first_name[]'),
    ('contacts', {'sort': 'nickname'}, 'sort'),
    ('contacts', {'sort': 'email'}, 'sort'),
    ('contacts', {'sort': 'name,name'}, 'sort'),
    ('contacts', {'cursor': 'not-a-cursor'}, 'cursor'),
    ('deals', {'amount[gt]': 'lots'}, 'amount[gt]'),
    ('deals', {'amount': '1e3'}, 'amount'),
    ('deals', {'amount[in]': '100.00,'}, 'amount[in]'),
    ('deals', {'probability': 'high'}, 'probability'),
    ('deals', {'probability[gt]': '2'}, 'probability[gt]'),
    ('deals', {'stage': 'closing'}, 'stage'),
    ('deals', {'stage[lt]': 'won'}, 'stage[lt]'),
    ('deals', {'currency': 'euro'}, 'currency'),
    ('deals', {'expected_close_date': '31/12/2027'}, 'expected_close_date'),
    ('deals', {'expected_close_date[gte]': '2027-02-30'},
        'expected_close_date[gte]'),
    ('deals', {'account_id': 'acme'}, 'account_id'),
    ('deals', {'account_id[contains]': '1'}, 'account_id[contains]'),
    ('activities', {'done': 'yes'}, 'done'),
    ('activities', {'done[gt]': 'false'}, 'done[gt]'),
    ('activities', {'due_at[gte]': 'yesterday'}, 'due_at[gte]'),
    ('activities', {'updated_at[gte]': '2027-01-01'}, 'updated_at[gte]'),
    ('activities', {'notes': 'pricing'}, 'notes'),
    ('activities', {'id[in]': '1,two'}, 'id[in]'),
    ('activities', {'id': '99999999999'}, 'id'),
    ]


@pytest.mark.parametrize('resource,params,name', BAD_QUERIES,
    ids=[f'{r}-{n}' for r, _, n in BAD_QUERIES])
def test_bad_query_parameter_is_named_in_400(client, resource, params, name):
    response = client.get(f'/{resource}', params=params)

    assert error_fields(response) == [name]


def test_repeated_filter_is_rejected(client):
    response = client.get(
        '/contacts', params=[('first_name', 'Ada'), ('first_name', 'Bob')])

    assert error_fields(response) == ['first_name']


def test_every_bad_parameter_is_listed(client):
    response = client.get('/deals', params={
            'stage': 'closing', 'amount[gt]': 'lots', 'limit': '0'})

    assert sorted(error_fields(response)) == ['amount[gt]', 'limit', 'stage']
