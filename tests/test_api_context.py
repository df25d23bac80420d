"The cached preference context that API requests run with"
import contextlib
import time

import requests


@contextlib.contextmanager
def admin_employee_switched(tryton):
    """Make the admin's current employee the other one of the company,
    yield (before, after) ids and switch back"""
    with tryton.transaction() as pool:
        User = pool.get('res.user')
        admin, = User.search([('login', '=', 'admin')])
        before = admin.employee.id
        after, = [e.id for e in admin.employees if e.id != before]
        User.write([admin], {'employee': after})
    try:
        yield before, after
    finally:
        with tryton.transaction() as pool:
            User = pool.get('res.user')
            User.write(User.search([('login', '=', 'admin')]), {
                    'employee': before})


def admin_context(tryton):
    with tryton.transaction(readonly=True) as pool:
        User = pool.get('res.user')
        admin, = User.search([('login', '=', 'admin')])
    with tryton.transaction(user=admin.id, readonly=True) as pool:
        return pool.get('res.user').get_api_context()


def test_api_context_is_the_preference_context(tryton):
    with tryton.transaction(readonly=True) as pool:
        User = pool.get('res.user')
        admin, = User.search([('login', '=', 'admin')])
    with tryton.transaction(user=admin.id, readonly=True) as pool:
        expected = pool.get('res.user').get_preferences(context_only=True)

    context = admin_context(tryton)

    assert context == expected


def test_api_context_follows_employee_change(tryton):
    cached = admin_context(tryton)

    with admin_employee_switched(tryton) as (before, after):
        changed = admin_context(tryton)

    assert cached['employee'] == before
    assert changed['employee'] == after
    assert admin_context(tryton)['employee'] == before


def test_server_sees_employee_change(tryton, start_server, admin_key):
    "A deal created without owner goes to the user's current employee"
    # With clean_timeout 0 each server process syncs Tryton's caches at
    # once (PostgreSQL) or at its next transaction (SQLite).
    server = start_server(cache__clean_timeout=0)
    headers = {'Authorization': f'Bearer {admin_key}'}

    def new_deal_owner():
        response = requests.post(
            server.api + '/deals', json={'name': "Context check"},
            headers=headers, timeout=30)
        assert response.status_code == 201, response.text
        return response.json()['owner_id']

    first_owner = new_deal_owner()
    with admin_employee_switched(tryton) as (before, after):
        deadline = time.monotonic() + 10
        owner = new_deal_owner()
        while owner != after and time.monotonic() < deadline:
            time.sleep(0.2)
            owner = new_deal_owner()

    assert first_owner == before
    assert owner == after
