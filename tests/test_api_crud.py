"Create, read, update and delete each CRM resource over HTTP"
import datetime as dt

import pytest

from .checks import new_tag, parse_timestamp, problem_of

RESOURCES = ['contacts', 'accounts', 'deals', 'activities']
MAX_ID = 2 ** 31 - 1


@pytest.fixture
def account(client):
    response = client.post('/accounts', json={'name': f"{new_tag()} Ltd"})
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def contact(client, account):
    response = client.post('/contacts', json={
            'first_name': 'Grace', 'last_name': new_tag(),
            'account_id': account['id']})
    assert response.status_code == 201, response.text
    return response.json()


def body_of(resource, account, contact):
    "Return a create body that sets every writable attribute it can"
    return {
        'contacts': {
            'first_name': 'Ada', 'last_name': 'Lovelace',
            'email': 'ada@example.com', 'phone': '+44 20 7946 0000',
            'job_title': 'Analyst', 'account_id': account['id']},
        'accounts': {
            'name': f"{new_tag()} Engines",
            'website': 'https://engines.example.com',
            'phone': '+44 20 7946 0001'},
        'deals': {
            'name': '50 licences', 'account_id': account['id'],
            'contact_id': contact['id'], 'amount': '1250.00',
            'currency': 'EUR', 'stage': 'opportunity',
            'probability': 0.25, 'expected_close_date': '2027-03-31'},
        'activities': {
            'type': 'call', 'subject': 'Discovery call',
            'notes': 'Asked about pricing', 'due_at': '2027-01-15T09:30:00Z',
            'done': False, 'contact_id': contact['id'],
            'account_id': account['id']},
        }[resource]


CHANGES = {
    'contacts': {'job_title': 'Chief Analyst'},
    'accounts': {'website': 'https://engines.example.org'},
    'deals': {'amount': '1300.50'},
    'activities': {'subject': 'Call moved to Friday'},
    }


@pytest.fixture
def created(request, client, account, contact):
    "A record created through the API: (resource, body, response)"
    resource = request.param
    body = body_of(resource, account, contact)
    return resource, body, client.post(f'/{resource}', json=body)


@pytest.mark.parametrize('created', RESOURCES, indirect=True)
def test_create_returns_record_with_location(created):
    resource, body, response = created

    record = response.json()

    assert response.status_code == 201, response.text
    assert response.headers['Location'] == (
        f"/api/v1/crm/{resource}/{record['id']}")
    assert isinstance(record['id'], int)
    assert {k: record[k] for k in body} == body
    assert parse_timestamp(record['created_at'])
    assert record['updated_at'] == record['created_at']


@pytest.mark.parametrize('created', RESOURCES, indirect=True)
def test_get_returns_created_record(client, created):
    resource, _, response = created
    record = response.json()

    fetched = client.get(f"/{resource}/{record['id']}")

    assert fetched.status_code == 200, fetched.text
    assert fetched.json() == record


@pytest.mark.parametrize('created', RESOURCES, indirect=True)
def test_patch_changes_only_given_attributes(client, created):
    resource, _, response = created
    record = response.json()
    changes = CHANGES[resource]

    patched = client.patch(f"/{resource}/{record['id']}", json=changes)

    assert patched.status_code == 200, patched.text
    updated = patched.json()
    assert {k: updated[k] for k in changes} == changes
    unchanged = set(record) - set(changes) - {'updated_at'}
    assert {k: updated[k] for k in unchanged} == {
        k: record[k] for k in unchanged}
    assert parse_timestamp(updated['updated_at']) > parse_timestamp(
        record['updated_at'])
    assert client.get(f"/{resource}/{record['id']}").json() == updated


@pytest.mark.parametrize('created', RESOURCES, indirect=True)
def test_deleted_record_is_not_found(client, created):
    resource, _, response = created
    path = f"/{resource}/{response.json()['id']}"
    if resource == 'deals':
        # Tryton deletes only cancelled opportunities.
        client.patch(path, json={'stage': 'cancelled'})

    deleted = client.delete(path)

    assert deleted.status_code == 204, deleted.text
    assert deleted.content == b''
    problem_of(client.get(path), 404)
    problem_of(client.patch(path, json=CHANGES[resource]), 404)
    problem_of(client.delete(path), 404)


@pytest.mark.parametrize('resource', RESOURCES)
@pytest.mark.parametrize('method', ['GET', 'PATCH', 'DELETE'])
def test_unknown_id_is_not_found(client, resource, method):
    body = CHANGES[resource] if method == 'PATCH' else None

    response = client.request(method, f'/{resource}/{MAX_ID}', json=body)

    document = problem_of(response, 404)
    assert str(MAX_ID) in document['detail']


def test_contact_id_is_not_an_account(client, contact, account):
    problem_of(client.get(f"/accounts/{contact['id']}"), 404)
    problem_of(client.get(f"/contacts/{account['id']}"), 404)


def test_contact_name_follows_first_and_last_name(client, contact):
    path = f"/contacts/{contact['id']}"

    response = client.patch(path, json={'first_name': 'Ada'})

    assert response.json()['name'] == f"Ada {contact['last_name']}"


def test_null_clears_optional_attribute(client, account):
    created = client.post('/contacts', json={
            'last_name': new_tag(), 'email': 'grace@example.com',
            'account_id': account['id']}).json()

    response = client.patch(
        f"/contacts/{created['id']}", json={'email': None, 'account_id': None})

    assert response.status_code == 200, response.text
    assert response.json()['email'] is None
    assert response.json()['account_id'] is None


def test_money_is_written_as_decimal_string(client):
    response = client.post('/deals', json={'name': 'Seats', 'amount': '99.5'})

    assert response.status_code == 201, response.text
    assert response.json()['amount'] == '99.50'


def test_money_as_json_number_is_rejected(client):
    response = client.post('/deals', json={'name': 'Seats', 'amount': 99.5})

    document = problem_of(response, 400)
    assert [e['field'] for e in document['errors']] == ['amount']


def test_timestamp_with_offset_is_returned_in_utc(client):
    response = client.post('/activities', json={
            'subject': 'Lunch', 'due_at': '2027-03-01T12:30:00+02:00'})

    assert response.status_code == 201, response.text
    assert response.json()['due_at'] == '2027-03-01T10:30:00Z'


def test_timestamps_are_recent_utc(client):
    before = dt.datetime.now(dt.timezone.utc)

    record = client.post('/accounts', json={'name': new_tag()}).json()

    created_at = parse_timestamp(record['created_at'])
    assert abs(created_at - before) < dt.timedelta(minutes=1)


def test_open_deal_is_kept_until_cancelled(client):
    deal = client.post('/deals', json={'name': 'Renewal'}).json()
    path = f"/deals/{deal['id']}"

    refused = client.delete(path)

    assert 400 <= refused.status_code < 500
    assert client.get(path).status_code == 200
    assert client.patch(path, json={'stage': 'cancelled'}).status_code == 200
    assert client.delete(path).status_code == 204


def test_reference_to_missing_record_names_attribute(client):
    response = client.post('/deals', json={
            'name': 'Orphan', 'account_id': MAX_ID, 'contact_id': MAX_ID})

    document = problem_of(response, 400)
    assert sorted(e['field'] for e in document['errors']) == [
        'account_id', 'contact_id']


def test_marking_activity_done_stamps_done_at(client, contact):
    created = client.post('/activities', json={
            'subject': 'Call back', 'contact_id': contact['id']}).json()

    done = client.patch(
        f"/activities/{created['id']}", json={'done': True}).json()
    again = client.patch(
        f"/activities/{created['id']}", json={'done': True}).json()

    assert created['done_at'] is None
    assert done['done_at'] is not None
    assert abs(parse_timestamp(done['done_at'])
        - dt.datetime.now(dt.timezone.utc)) < dt.timedelta(minutes=5)
    assert again['done_at'] == done['done_at']


def test_delete_answers_without_media_type(client, account):
    response = client.delete(f"/accounts/{account['id']}")

    assert response.status_code == 204
    assert 'Content-Type' not in response.headers


def test_won_deal_with_null_owner_is_rejected(client, account):
    response = client.post('/deals', json={
            'name': 'Won without owner', 'stage': 'won',
            'account_id': account['id'], 'owner_id': None})

    problem = problem_of(response, 400)
    assert [e['field'] for e in problem['errors']] == ['owner_id']


def test_won_deal_without_owner_gets_user_employee(client, account):
    response = client.post('/deals', json={
            'name': 'Won by default owner', 'stage': 'won',
            'account_id': account['id']})

    assert response.status_code == 201, response.text
    assert response.json()['owner_id'] is not None
