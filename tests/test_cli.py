"""The api-key command line, run as a user runs it, against the database
that the shared server serves"""
import subprocess
import sys

import pytest

from . import harness
from .checks import KEY, new_tag, problem_of


@pytest.fixture(scope='module')
def cli(environment):
    def run(*arguments):
        return subprocess.run(
            [sys.executable, '-m', 'crm_public_api.cli', 'api-key',
                *arguments],
            env=environment, cwd=harness.ROOT, capture_output=True,
            text=True, timeout=120)
    return run


@pytest.fixture(scope='module')
def created(cli):
    "The name and the completed process of one api-key create"
    # Each run loads Tryton's pool for seconds, so the tests share one.
    name = new_tag()
    return name, cli(
        'create', '--name', name, '--scopes', 'contacts:read,deals:write',
        '--expires', '2031-01-31')


def test_create_prints_only_the_key(created):
    _, result = created

    assert result.returncode == 0, result.stderr
    assert KEY.fullmatch(result.stdout.rstrip('\n'))
    assert result.stdout.count('\n') == 1


def test_created_key_has_its_name_scopes_and_expiry(created, client_for):
    name, result = created

    me = client_for(result.stdout.strip()).get('/me').json()

    assert me['name'] == name
    assert me['scopes'] == ['contacts:read', 'deals:write']
    # The key works through the whole expiry day, UTC.
    assert me['expires_at'] == '2031-02-01T00:00:00Z'


def test_created_key_is_not_on_standard_error(created):
    _, result = created

    assert result.stdout.strip() not in result.stderr


def test_list_shows_prefix_and_name_but_not_key(cli, created):
    name, created_result = created
    key = created_result.stdout.strip()

    result = cli('list')

    assert result.returncode == 0, result.stderr
    line, = [line for line in result.stdout.splitlines() if name in line]
    assert key[:12] in line
    assert 'active' in line
    assert key not in result.stdout


def test_revoke_disables_key_at_once(cli, client_for):
    name = new_tag()
    key = cli('create', '--name', name, '--scopes', 'contacts:read'
        ).stdout.strip()
    assert client_for(key).get('/me').status_code == 200

    result = cli('revoke', key[:12])

    assert result.returncode == 0, result.stderr
    problem_of(client_for(key).get('/me'), 401)
    line, = [line for line in cli('list').stdout.splitlines() if name in line]
    assert 'revoked' in line


def test_unknown_scope_is_an_error_without_key(cli):
    result = cli('create', '--name', new_tag(), '--scopes', 'contacts:erase')

    assert result.returncode != 0
    assert result.stdout == ''
    assert 'contacts:erase' in result.stderr


def test_past_expiry_is_an_error_without_key(cli):
    result = cli(
        'create', '--name', new_tag(), '--scopes', 'contacts:read',
        '--expires', '2020-01-01')

    assert result.returncode != 0
    assert result.stdout == ''


def test_revoking_unknown_key_is_an_error(cli):
    result = cli('revoke', 'crm_00000000')

    assert result.returncode != 0
    assert 'crm_00000000' in result.stderr
