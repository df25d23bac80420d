"""The address guard of webhook URLs.

Addresses outside loopback are classified as data only: nothing here
connects to them.  End to end, a loopback listener must see no
connection while the allow-list is off."""
import ipaddress

import pytest

from crm_external_integrations import guard

from .checks import problem_of
from .webhook_fixtures import (  # noqa: F401
    ConnectionCounter, hooks_client, hooks_config, hooks_server,
    hooks_worker, receiver, subscribe)


@pytest.mark.parametrize('address, reason', [
        ('127.0.0.1', 'loopback'),
        ('127.9.9.9', 'loopback'),
        ('::1', 'loopback'),
        ('10.1.2.3', 'private'),
        ('172.16.0.1', 'private'),
        ('172.31.255.255', 'private'),
        ('192.168.1.1', 'private'),
        ('fd12:3456::1', 'private'),
        ('169.254.1.1', 'link-local'),
        ('fe80::1', 'link-local'),
        ('100.64.0.1', 'shared (CGNAT)'),
        ('100.127.255.254', 'shared (CGNAT)'),
        ('224.0.0.1', 'multicast'),
        ('239.255.255.250', 'multicast'),
        ('ff02::1', 'multicast'),
        ('0.0.0.0', 'unspecified'),
        ('::', 'unspecified'),
        ('::ffff:127.0.0.1', 'IPv4-mapped IPv6'),
        ('::ffff:8.8.8.8', 'IPv4-mapped IPv6'),
        ('::7f00:1', 'IPv4-compatible IPv6'),
        ('169.254.169.254', 'cloud metadata'),
        ('fd00:ec2::254', 'cloud metadata'),
        ('100.100.100.200', 'cloud metadata'),
        ('0.1.2.3', 'private'),
        ('240.0.0.1', 'private'),
        ('255.255.255.255', 'private'),
        ('192.0.2.1', 'private'),
        ('2001:db8::1', 'private'),
        ])
def test_internal_address_is_classified(address, reason):
    assert guard.classify(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize('address', [
        '93.184.215.14', '1.1.1.1', '2606:4700:4700::1111', '100.128.0.1'])
def test_public_address_passes(address):
    assert guard.classify(ipaddress.ip_address(address)) is None


def test_allow_list_lifts_the_guard_for_its_networks():
    allowed = guard.parse_networks('127.0.0.0/8, 10.0.0.0/8')

    guard.check_address('127.0.0.1', ipaddress.ip_address('127.0.0.1'),
        allowed)
    guard.check_address('10.9.9.9', ipaddress.ip_address('10.9.9.9'),
        allowed)
    with pytest.raises(guard.BlockedAddress):
        guard.check_address('192.168.0.1',
            ipaddress.ip_address('192.168.0.1'), allowed)
    with pytest.raises(guard.BlockedAddress):
        guard.check_address('::1', ipaddress.ip_address('::1'), allowed)


@pytest.mark.parametrize('url', [
        'ftp://127.0.0.1/hook',
        'file:///etc/passwd',
        'http:///hook',
        'http://user:secret@127.0.0.1/hook',
        'http://127.0.0.1:99999/hook',
        'http://127.0.0.1/hook#part',
        'javascript:alert(1)',
        ])
def test_invalid_url_is_rejected(url):
    with pytest.raises(guard.InvalidURL):
        guard.check_url(url, guard.parse_networks('127.0.0.0/8'))


def test_hostname_resolving_to_loopback_is_blocked():
    with pytest.raises(guard.BlockedAddress) as error:
        guard.check_url('http://localhost:8/hook', [])

    assert error.value.reason == 'loopback'
    assert 'a blocked address (loopback)' in str(error.value)


@pytest.mark.parametrize('url, message', [
    ('http://0.0.0.0/hook', "0.0.0.0 is a blocked address (unspecified)"),
    ('http://[::ffff:10.0.0.1]/hook',
        "::ffff:10.0.0.1 is a blocked address (IPv4-mapped IPv6)"),
    ])
def test_blocked_address_message_names_reason(url, message):
    with pytest.raises(guard.BlockedAddress) as error:
        guard.check_url(url, [])

    assert str(error.value) == message


def test_checked_target_keeps_host_and_path():
    target = guard.check_url(
        'https://127.0.0.1:8443/in/hook?x=1', guard.parse_networks(
            '127.0.0.0/8'))

    assert target.addresses == [ipaddress.ip_address('127.0.0.1')]
    assert target.path == '/in/hook?x=1'
    assert target.host_header == '127.0.0.1:8443'


@pytest.fixture
def counter():
    counter = ConnectionCounter()
    yield counter
    counter.stop()


@pytest.mark.parametrize('host', ['127.0.0.1', 'localhost', '[::1]'])
def test_api_rejects_loopback_url_without_allow_list(client, counter, host):
    # The session's server runs without allow_networks.
    response = client.post('/webhooks', json={
            'name': 'inside', 'url': f'http://{host}:{counter.port}/hook',
            'event_types': ['contact.created']})

    problem = problem_of(response, 422)
    assert 'loopback' in problem['detail']
    assert counter.count == 0


def test_api_error_masks_password_of_url(client, counter):
    response = client.post('/webhooks', json={
            'name': 'credentials',
            'url': f'http://user:hunter2@127.0.0.1:{counter.port}/hook',
            'event_types': ['contact.created']})

    problem = problem_of(response, 422)
    assert 'hunter2' not in problem['detail']
    assert 'user:***@127.0.0.1' in problem['detail']
    assert counter.count == 0


@pytest.mark.parametrize('url, redacted', [
    ('http://u:p@h/x', 'http://u:***@h/x'),
    ('http://u:p:q@h/', 'http://u:***@h/'),
    ('http://u@h/x', 'http://u@h/x'),
    ('http://h/x?a=b', 'http://h/x?a=b'),
    ('http://[::1/', 'http://[::1/'),
    ])
def test_redact_masks_only_the_password(url, redacted):
    assert guard.redact(url) == redacted


def test_blocked_at_connect_time_sends_nothing(
        tryton, hooks_config, hooks_client, counter):
    from trytond import config
    created = hooks_client.post('/webhooks', json={
            'name': 'allowed at first',
            'url': f'http://127.0.0.1:{counter.port}/hook',
            'event_types': ['account.created']})
    assert created.status_code == 201, created.text
    webhook_id = created.json()['id']

    config.set('crm_webhook', 'allow_networks', '')
    try:
        with tryton.transaction() as pool:
            pool.get('party.party').create([{
                        'name': 'Guarded Ltd', 'kind': 'organisation'}])
    finally:
        config.set('crm_webhook', 'allow_networks', hooks_config[
                'allow_networks'])
    delivery, = hooks_client.get(
        f'/webhooks/{webhook_id}/deliveries').json()['data']
    hooks_client.delete(f'/webhooks/{webhook_id}')

    assert counter.count == 0
    assert delivery['status'] == 'retrying'
    assert delivery['attempts'][0]['error_kind'] == 'blocked'
    assert 'loopback' in delivery['attempts'][0]['error']
