"""Errors over HTTP: every 4xx under the base path is an RFC 9457 problem
document, and invalid input names each offending field"""
import pytest
import requests

from .checks import PROBLEM, error_fields, problem_of

METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']


def test_problem_has_rfc_9457_members(client):
    response = client.get('/contacts/2147483647')

    document = problem_of(response, 404)
    assert document['type'].startswith('urn:')
    assert document['title'] == 'Not Found'
    assert document['detail']


@pytest.mark.parametrize('path', [
        '', '/', '//', '/nothing', '/contacts/', '/contacts/1/notes',
        '/contacts/ada', '/contacts/-1', '/docs/missing.js',
        '/openapi.json/extra'])
def test_unknown_route_is_problem_404(client, path):
    response = client.get(path)

    problem_of(response, 404)


def test_unknown_route_without_key_is_problem_404(server):
    response = requests.get(server.api + '/nothing', timeout=30)

    problem_of(response, 404)


def spec_paths(client):
    return client.get('/openapi.json').json()['paths']


def test_wrong_method_is_problem_405_on_every_path(client):
    failures = []

    for path, item in spec_paths(client).items():
        allowed = {m.upper() for m in item}
        url = path.replace('/api/v1/crm', '', 1).replace('{id}', '1')
        for method in set(METHODS) - allowed:
            response = client.request(method, url, json={})
            if (response.status_code != 405
                    or response.headers['Content-Type'] != PROBLEM):
                failures.append((method, path, response.status_code))
            elif set(response.headers['Allow'].split(', ')) != allowed:
                failures.append((method, path, response.headers['Allow']))

    assert failures == []


def test_openapi_document_refuses_post(client):
    response = client.post('/openapi.json', json={})

    problem_of(response, 405)


def test_invalid_body_lists_each_offending_field(client):
    response = client.post('/contacts', json={
            'first_name': 7, 'email': 'not an email', 'id': 3,
            'nickname': 'Ada', 'account_id': 'acme'})

    assert sorted(set(error_fields(response))) == [
        'account_id', 'email', 'first_name', 'id', 'nickname']


def test_missing_required_attribute_is_named(client):
    response = client.post('/deals', json={'amount': '10.00'})

    assert error_fields(response) == ['name']


def test_null_for_required_attribute_is_named(client):
    account = client.post('/accounts', json={'name': 'Named'}).json()

    response = client.patch(f"/accounts/{account['id']}", json={'name': None})

    assert error_fields(response) == ['name']


@pytest.mark.parametrize('body', ['[]', '"text"', '12', 'null'])
def test_body_other_than_object_is_rejected(client, body):
    response = client.post(
        '/accounts', data=body, headers={'Content-Type': 'application/json'})

    problem_of(response, 400)


def test_invalid_json_is_rejected(client):
    response = client.post(
        '/accounts', data='{"name": ', headers={
            'Content-Type': 'application/json'})

    problem_of(response, 400)


def test_deeply_nested_json_is_rejected(client):
    body = '{"name": ' + '[' * 5000 + ']' * 5000 + '}'

    response = client.post(
        '/accounts', data=body, headers={'Content-Type': 'application/json'})

    problem_of(response, 400)


def test_unpaired_surrogate_in_string_is_named(client):
    response = client.post(
        '/accounts', data='{"name": "Caf\\ud800"}',
        headers={'Content-Type': 'application/json'})

    assert error_fields(response) == ['name']


def test_body_not_in_utf_8_is_rejected(client):
    response = client.post(
        '/accounts', data='{"name": "Caf\xe9"}'.encode('latin-1'),
        headers={'Content-Type': 'application/json'})

    problem_of(response, 400)


@pytest.mark.parametrize('content_type', [
        'text/plain', 'application/x-www-form-urlencoded', ';;;', ''])
def test_body_that_is_not_json_is_problem_415(client, content_type):
    response = client.post(
        '/accounts', data='{"name": "Acme"}',
        headers={'Content-Type': content_type})

    problem_of(response, 415)


def test_json_media_type_with_charset_is_accepted(client):
    response = client.post(
        '/accounts', data='{"name": "Acme"}',
        headers={'Content-Type': 'application/json; charset=utf-8'})

    assert response.status_code == 201, response.text


def test_body_over_one_mebibyte_is_problem_413(client):
    body = '{"name": "' + 'a' * (1024 * 1024) + '"}'

    response = client.post(
        '/accounts', data=body, headers={'Content-Type': 'application/json'})

    problem_of(response, 413)


def test_missing_scope_is_problem_403(tryton, client_for):
    client = client_for(tryton.issue_key(['contacts:read']))

    response = client.post('/contacts', json={'first_name': 'Ada'})

    document = problem_of(response, 403)
    assert 'contacts:write' in document['detail']


def test_rule_of_the_crm_is_a_problem(client):
    response = client.post('/deals', json={'name': 'Won', 'stage': 'won'})

    assert 400 <= response.status_code < 500
    assert response.headers['Content-Type'] == PROBLEM
