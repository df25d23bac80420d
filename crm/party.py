from trytond.i18n import gettext
from trytond.model import fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval

from .common import UpdatedAtMixin
from .exceptions import ContactAccountError

KINDS = [
    (None, ""),
    ('organisation', "Organisation"),
    ('person', "Person"),
    ]


def full_name(first_name, last_name):
    return ' '.join(filter(None, [first_name, last_name])) or None


class Party(UpdatedAtMixin, metaclass=PoolMeta):
    __name__ = 'party.party'

    # Accounts of the CRM are organisations and contacts are persons; a
    # party without a kind is left to the rest of Tryton.
    kind = fields.Selection(KINDS, "Kind")
    first_name = fields.Char(
        "First Name",
        states={'invisible': Eval('kind') != 'person'})
    last_name = fields.Char(
        "Last Name",
        states={'invisible': Eval('kind') != 'person'})
    job_title = fields.Char(
        "Job Title",
        states={'invisible': Eval('kind') != 'person'})
    account = fields.Many2One(
        'party.party', "Account", ondelete='SET NULL',
        domain=[('kind', '=', 'organisation')],
        states={'invisible': Eval('kind') != 'person'})
    account_contacts = fields.One2Many(
        'party.party', 'account', "Contacts",
        states={'invisible': Eval('kind') != 'organisation'})

    @classmethod
    def __setup__(cls):
        super().__setup__()
        for name in ['email', 'phone', 'website']:
            getattr(cls, name).searcher = 'search_contact_mechanism'

    @classmethod
    def search_contact_mechanism(cls, name, clause):
        _, operator, value = clause[:3]
        # The operator goes first: the value of "in" is an unhashable list.
        if operator in {'=', '!='} and value in {None, ''}:
            # Empty means that the party has no mechanism of the type.
            where = 'not where' if operator == '=' else 'where'
            return [('contact_mechanisms', where, [('type', '=', name)])]
        return [('contact_mechanisms', 'where', [
                    ('type', '=', name),
                    ('value', operator, value),
                    ])]

    @classmethod
    def set_contact_mechanism(cls, parties, name, value):
        "Replace the first contact mechanism of the type by the new value"
        pool = Pool()
        ContactMechanism = pool.get('party.contact_mechanism')
        to_save, to_delete = [], []
        # The value is stored stripped, as a Char is, so blank clears it.
        value = value.strip() if value else value
        for party in parties:
            mechanism = party.contact_mechanism_get(name)
            if mechanism and value:
                mechanism.value = value
                to_save.append(mechanism)
            elif mechanism:
                to_delete.append(mechanism)
            elif value:
                to_save.append(ContactMechanism(
                        party=party, type=name, value=value))
        ContactMechanism.delete(to_delete)
        ContactMechanism.save(to_save)

    @classmethod
    def create(cls, vlist):
        vlist = [v.copy() for v in vlist]
        for values in vlist:
            if values.get('kind') == 'person' and not values.get('name'):
                values['name'] = full_name(
                    values.get('first_name'), values.get('last_name'))
        return super().create(vlist)

    @classmethod
    def write(cls, *args):
        super().write(*args)

        # Keep the name of a person in step with its parts.
        actions = iter(args)
        renamed = []
        for parties, values in zip(actions, actions):
            if values.keys() & {'first_name', 'last_name'}:
                renamed.extend(p for p in parties if p.kind == 'person')
        for party in renamed:
            name = full_name(party.first_name, party.last_name)
            if name and name != party.name:
                super().write([party], {'name': name})

    @fields.depends('first_name', 'last_name', 'name')
    def on_change_first_name(self):
        self._set_name_from_parts()

    @fields.depends('first_name', 'last_name', 'name')
    def on_change_last_name(self):
        self._set_name_from_parts()

    @fields.depends('first_name', 'last_name')
    def _set_name_from_parts(self):
        self.name = full_name(self.first_name, self.last_name)

    @classmethod
    def validate_fields(cls, parties, field_names):
        super().validate_fields(parties, field_names)
        cls.check_account(parties, field_names)

    @classmethod
    def check_account(cls, parties, field_names=None):
        if field_names and not (field_names & {'account', 'kind'}):
            return
        for party in parties:
            if party.account and party.kind != 'person':
                raise ContactAccountError(gettext(
                        'crm.msg_account_on_non_person',
                        party=party.rec_name))
