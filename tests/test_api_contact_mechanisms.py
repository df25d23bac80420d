"Email, phone and website of parties as the API reads them in one query"
import pytest

from .checks import new_tag

# Each party's mechanisms as (type, value, sequence, active, invoice).
MECHANISMS = {
    'ordered by sequence': [
        ('email', 'second@example.com', 20, True, False),
        ('email', 'first@example.com', 10, True, False),
        ('phone', '+1 555 0100', None, True, False),
        ],
    'inactive skipped': [
        ('phone', '+1 555 0101', 1, False, False),
        ('phone', '+1 555 0102', 5, True, False),
        ('website', 'https://example.com', 3, True, False),
        ],
    'same sequence by id': [
        ('email', 'older@example.com', 7, True, False),
        ('email', 'newer@example.com', 7, True, True),
        ],
    'none': [],
    }


@pytest.fixture
def parties(tryton):
    "Parties with the MECHANISMS, as {case: id}"
    tag = new_tag()
    with tryton.transaction() as pool:
        Party = pool.get('party.party')
        created = Party.create([{
                    'name': f"{tag} {case}", 'kind': 'person',
                    'first_name': tag, 'last_name': case,
                    'contact_mechanisms': [('create', [{
                                    'type': type_, 'value': value,
                                    'sequence': sequence, 'active': active,
                                    'invoice': invoice}
                                for type_, value, sequence, active, invoice
                                in mechanisms])],
                    } for case, mechanisms in MECHANISMS.items()])
        return {p.last_name: p.id for p in created}


def read_both(tryton, ids, context=None):
    "Return the API's rows and Tryton's own values of the parties"
    from crm_public_api.resources import ACCOUNTS, CONTACTS
    with tryton.transaction(readonly=True, context=context) as pool:
        Party = pool.get('party.party')
        expected = {r['id']: r for r in Party.read(
                ids, ['email', 'phone', 'website'])}
        contacts = {r['id']: r for r in CONTACTS.read(ids)}
        accounts = {r['id']: r for r in ACCOUNTS.read(ids)}
    return expected, contacts, accounts


@pytest.mark.parametrize('case', list(MECHANISMS))
def test_contact_mechanisms_match_tryton(tryton, parties, case):
    party = parties[case]

    expected, contacts, accounts = read_both(tryton, list(parties.values()))

    assert contacts[party]['email'] == (expected[party]['email'] or None)
    assert contacts[party]['phone'] == (expected[party]['phone'] or None)
    assert accounts[party]['website'] == (
        expected[party]['website'] or None)


def test_contact_mechanisms_values(tryton, parties):
    _, contacts, accounts = read_both(tryton, list(parties.values()))

    assert contacts[parties['ordered by sequence']]['email'] == \
        'first@example.com'
    assert contacts[parties['inactive skipped']]['phone'] == '+1 555 0102'
    assert accounts[parties['inactive skipped']]['website'] == \
        'https://example.com'
    assert contacts[parties['same sequence by id']]['email'] == \
        'older@example.com'
    assert contacts[parties['none']]['email'] is None


def test_contact_mechanism_usage_is_preferred(tryton, parties):
    party = parties['same sequence by id']
    context = {'party_contact_mechanism_usage': 'invoice'}

    expected, contacts, _ = read_both(tryton, [party], context)

    assert expected[party]['email'] == 'newer@example.com'
    assert contacts[party]['email'] == 'newer@example.com'
