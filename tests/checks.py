"Small checks and builders shared by the end-to-end tests of the API"
import datetime as dt
import re
import uuid

PROBLEM = 'application/problem+json'
KEY = re.compile(r'crm_[0-9A-Za-z]{36}')
TIMESTAMP = re.compile(r'\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z')


def new_tag():
    "Return a marker unique to one test, to find its records in lists"
    # Letters outside a-f never occur in the hex part, so a search for a
    # word with one of them cannot match the marker by chance.
    return 'T' + uuid.uuid4().hex[:10]


def problem_of(response, status):
    "Return the problem document of response after checking its status"
    assert response.status_code == status, response.text
    assert response.headers['Content-Type'] == PROBLEM
    document = response.json()
    assert document['status'] == status
    return document


def error_fields(response):
    "Return the field of each entry of a 400 problem's errors"
    document = problem_of(response, 400)
    return [error['field'] for error in document['errors']]


def parse_timestamp(text):
    assert TIMESTAMP.fullmatch(text), text
    return dt.datetime.fromisoformat(text.replace('Z', '+00:00'))


def rate_limit_fields(response):
    """Return the parameters of the RateLimit-Policy and RateLimit headers
    as one dict of integers (q, w, r, t)"""
    fields = {}
    for header in ('RateLimit-Policy', 'RateLimit'):
        value = response.headers[header]
        fields.update(
            (name, int(number))
            for name, number in re.findall(r';(\w+)=(\d+)', value))
    return fields
