"""Events of CRM changes reach webhooks signed, with the API's record,
whether the change comes through the API or through Tryton."""
import json

import pytest

from .webhook_fixtures import (  # noqa: F401
    SUBSCRIBABLE, hooks_client, hooks_config, hooks_server,
    hooks_worker, receiver, subscribe, verify)


def canonical(value):
    return json.dumps(value, sort_keys=True)


def events_of(receiver, count, secret):
    "Return the verified payloads of the first count requests"
    return [verify(r, secret) for r in receiver.wait_for(count)]


def test_api_changes_send_every_event_type(
        hooks_client, subscribe, receiver):
    webhook = subscribe(receiver)
    client = hooks_client
    expected = []

    def changed(record, before):
        return {k: v for k, v in before.items()
            if k != 'updated_at' and record[k] != v}

    def stage(deal, name):
        moved = client.patch(
            f"/deals/{deal['id']}", json={'stage': name}).json()
        previous = {'stage': deal['stage']}
        expected.extend([
                ('deal.updated', moved, changed(moved, deal)),
                ('deal.stage_changed', moved, previous)])
        if name in {'won', 'lost'}:
            expected.append((f'deal.{name}', moved, previous))
        return moved

    account = client.post('/accounts', json={'name': 'Hooks Ltd'}).json()
    expected.append(('account.created', account, None))
    contact = client.post('/contacts', json={
            'first_name': 'Grace', 'last_name': 'Hopper',
            'account_id': account['id']}).json()
    expected.append(('contact.created', contact, None))
    contact_updated = client.patch(
        f"/contacts/{contact['id']}", json={'job_title': 'Admiral'}).json()
    expected.append(
        ('contact.updated', contact_updated, {'job_title': None}))
    account_updated = client.patch(
        f"/accounts/{account['id']}",
        json={'website': 'https://hooks.example.com'}).json()
    expected.append(('account.updated', account_updated, {'website': None}))
    deal = client.post('/deals', json={
            'name': '10 licences', 'account_id': account['id'],
            'contact_id': contact['id'], 'stage': 'lead'}).json()
    expected.append(('deal.created', deal, None))
    deal = stage(deal, 'won')
    other_deal = client.post('/deals', json={'name': '1 licence'}).json()
    expected.append(('deal.created', other_deal, None))
    other_deal = stage(other_deal, 'lost')
    activity = client.post('/activities', json={
            'subject': 'Discovery call', 'type': 'call',
            'contact_id': contact['id']}).json()
    expected.append(('activity.created', activity, None))
    activity_done = client.patch(
        f"/activities/{activity['id']}", json={'done': True}).json()
    expected.append(('activity.updated', activity_done,
            changed(activity_done, activity)))
    assert client.delete(
        f"/activities/{activity['id']}").status_code == 204
    expected.append(('activity.deleted', activity_done, None))
    for record in [deal, other_deal]:
        # Only a cancelled deal can be deleted through the API.
        record = stage(record, 'cancelled')
        assert client.delete(f"/deals/{record['id']}").status_code == 204
        expected.append(('deal.deleted', record, None))
    assert client.delete(f"/contacts/{contact['id']}").status_code == 204
    expected.append(('contact.deleted', contact_updated, None))
    assert client.delete(f"/accounts/{account['id']}").status_code == 204
    expected.append(('account.deleted', account_updated, None))
    events = events_of(receiver, len(expected), webhook['secret'])

    # Deliveries are not ordered, even those of one change.
    assert sorted(map(canonical, [
                (e['type'], e['data'], e['previous']) for e in events])) \
        == sorted(map(canonical, expected))
    assert {e['type'] for e in events} == set(SUBSCRIBABLE)


def test_event_envelope(hooks_client, subscribe, receiver):
    webhook = subscribe(receiver, ['contact.created'])

    contact = hooks_client.post(
        '/contacts', json={'first_name': 'Alan'}).json()
    received, = receiver.wait_for(1)
    payload = verify(received, webhook['secret'])

    assert payload['id'] == received.headers['webhook-id']
    assert payload['id'].startswith('evt_')
    assert payload['occurred_at'].endswith('Z')
    assert payload['data'] == contact
    assert received.headers['content-type'] == 'application/json'
    assert abs(int(received.headers['webhook-timestamp'])
        - __import__('time').time()) < 30


def test_tryton_calls_send_every_event_type(
        tryton, hooks_config, subscribe, receiver, hooks_client):
    webhook = subscribe(receiver)
    context = tryton.company_context()

    with tryton.transaction(context=context) as pool:
        Party = pool.get('party.party')
        account, = Party.create([{'name': 'Pool Ltd', 'kind': 'organisation'}])
        contact, = Party.create([{
                    'kind': 'person', 'first_name': 'Ada',
                    'account': account.id}])
        account_id, contact_id = account.id, contact.id
    with tryton.transaction(context=context) as pool:
        Party = pool.get('party.party')
        Party.write([Party(contact_id)], {'last_name': 'Lovelace'})
        Party.write([Party(account_id)], {'name': 'Pool Limited'})
    with tryton.transaction(context=context) as pool:
        Opportunity = pool.get('sale.opportunity')
        employee, = pool.get('company.employee').search([], limit=1)
        deal, = Opportunity.create([{
                    'description': 'Engines', 'party': account_id,
                    'contact_person': contact_id, 'employee': employee.id,
                    'company': context['company'],
                    }])
        deal_id = deal.id
    with tryton.transaction(context=context) as pool:
        Opportunity = pool.get('sale.opportunity')
        # The web client's buttons run these workflow transitions.
        Opportunity.opportunity([Opportunity(deal_id)])
    with tryton.transaction(context=context) as pool:
        Opportunity = pool.get('sale.opportunity')
        Opportunity.lost([Opportunity(deal_id)])
    with tryton.transaction(context=context) as pool:
        Activity = pool.get('crm.activity')
        activity, = Activity.create([{
                    'subject': 'Demo', 'contact': contact_id,
                    'company': context['company']}])
        Activity.write([activity], {'subject': 'Demo day'})
        Activity.delete([activity])
    with tryton.transaction(context=context) as pool:
        Opportunity = pool.get('sale.opportunity')
        # A lost deal goes back to lead before it can be cancelled.
        Opportunity.lead([Opportunity(deal_id)])
        Opportunity.cancel([Opportunity(deal_id)])
        Opportunity.delete([Opportunity(deal_id)])
        Party = pool.get('party.party')
        Party.delete([Party(contact_id)])
        Party.delete([Party(account_id)])
    events = events_of(receiver, 20, webhook['secret'])
    by_type = {}
    for payload in events:
        by_type.setdefault(payload['type'], []).append(payload)

    assert sorted(e['type'] for e in events) == sorted([
            'account.created', 'contact.created',
            'contact.updated', 'account.updated',
            'deal.created',
            'deal.updated', 'deal.stage_changed',
            'deal.updated', 'deal.stage_changed', 'deal.lost',
            'activity.created', 'activity.updated', 'activity.deleted',
            'deal.updated', 'deal.stage_changed',
            'deal.updated', 'deal.stage_changed',
            'deal.deleted', 'contact.deleted', 'account.deleted',
            ])
    assert by_type['contact.updated'][0]['previous'] == {
        'last_name': None, 'name': 'Ada'}
    assert by_type['account.updated'][0]['previous'] == {'name': 'Pool Ltd'}
    assert sorted((e['previous']['stage'], e['data']['stage'])
        for e in by_type['deal.stage_changed']) == sorted([
            ('lead', 'opportunity'), ('opportunity', 'lost'),
            ('lost', 'lead'), ('lead', 'cancelled')])
    assert by_type['deal.lost'][0]['previous'] == {'stage': 'opportunity'}
    assert by_type['activity.updated'][0]['previous'] == {'subject': 'Demo'}
    assert by_type['account.deleted'][0]['data']['name'] == 'Pool Limited'


def test_tryton_payload_equals_api_record(
        tryton, hooks_config, subscribe, receiver, hooks_client):
    webhook = subscribe(receiver, ['contact.created', 'contact.updated'])

    with tryton.transaction(context=tryton.company_context()) as pool:
        contact, = pool.get('party.party').create([{
                    'kind': 'person', 'first_name': 'Edsger',
                    'email': 'edsger@example.com', 'job_title': 'Professor'}])
        contact_id = contact.id
    created, = events_of(receiver, 1, webhook['secret'])

    assert created['data'] == hooks_client.get(
        f'/contacts/{contact_id}').json()


def test_rolled_back_change_sends_nothing(
        tryton, hooks_config, subscribe, receiver):
    subscribe(receiver, ['contact.created', 'contact.updated'])

    with pytest.raises(RuntimeError):
        with tryton.transaction() as pool:
            Party = pool.get('party.party')
            contact, = Party.create([{'kind': 'person', 'first_name': 'Lost'}])
            Party.write([contact], {'last_name': 'Change'})
            raise RuntimeError("the change fails after the write")
    with tryton.transaction(readonly=True) as pool:
        deliveries = pool.get('crm.webhook.delivery').search([])

    receiver.stay_quiet(1.5)
    assert not [d for d in deliveries
        if d.payload_json['data'].get('first_name') == 'Lost']


def test_rejected_api_write_sends_nothing(
        hooks_client, subscribe, receiver):
    subscribe(receiver, ['account.created'])

    response = hooks_client.post('/accounts', json={'name': '  '})

    assert response.status_code == 400
    receiver.stay_quiet(1)


def test_receiver_calling_back_sees_the_change(
        hooks_client, subscribe, receiver):
    seen = []

    def call_back(received):
        contact_id = received.json()['data']['id']
        seen.append(hooks_client.get(f'/contacts/{contact_id}'))
        return 204, {}
    receiver.respond = call_back
    subscribe(receiver, ['contact.updated'])
    contact = hooks_client.post(
        '/contacts', json={'first_name': 'Barbara'}).json()

    hooks_client.patch(
        f"/contacts/{contact['id']}", json={'last_name': 'Liskov'})
    receiver.wait_for(1)

    assert seen[0].status_code == 200
    assert seen[0].json()['last_name'] == 'Liskov'


def test_write_without_api_change_sends_nothing(
        tryton, hooks_config, subscribe, receiver, hooks_client):
    subscribe(receiver, ['contact.updated'])
    contact = hooks_client.post(
        '/contacts', json={'first_name': 'Quiet'}).json()

    with tryton.transaction() as pool:
        Party = pool.get('party.party')
        # The language is not an attribute of the API.
        Party.write([Party(contact['id'])], {'lang': None})

    receiver.stay_quiet(1)


def test_unsubscribed_types_are_not_sent(hooks_client, subscribe, receiver):
    webhook = subscribe(receiver, ['account.created'])

    hooks_client.post('/contacts', json={'first_name': 'Nobody'})
    hooks_client.post('/accounts', json={'name': 'Somebody Ltd'})
    received, = receiver.wait_for(1)

    assert verify(received, webhook['secret'])['type'] == 'account.created'
    receiver.stay_quiet(0.5)
