"""The CRM resources of the public API and how they map onto Tryton.

A resource names its Tryton model, the domain that selects its records
(contacts and accounts are both parties), and its attributes.  The same
definitions serialize records for API responses and webhook payloads,
validate request bodies and filters, and generate the OpenAPI schemas.
"""
import re

from sql import Literal, NullsFirst

from trytond import backend
from trytond.pool import Pool
from trytond.tools import grouped_slice, reduce_ids
from trytond.transaction import Transaction

from .problem import InvalidReference, InvalidRequest, field_error
from .schema import (
    Boolean, Date, DateTime, Decimal, Enum, Id, Probability, Reference,
    String, Text)


class MissingRecord(ValueError):
    "A value that names no record, such as an unknown currency code"


class CreatedAt(DateTime):
    def __init__(self):
        super().__init__(
            'created_at', 'create_date', read_only=True, nullable=False,
            description="When the record was created (UTC)")


class UpdatedAt(DateTime):
    "Last write time, or the creation time of a record never written"

    def __init__(self):
        super().__init__(
            'updated_at', 'updated_at', read_only=True, nullable=False,
            description="When the record last changed (UTC)")
        self.read_fields = ['write_date', 'create_date']

    def extract(self, row):
        return self.dump(row['write_date'] or row['create_date'])


class CurrencyCode(String):
    "ISO 4217 code of a currency known to Tryton"

    def __init__(self, name, source, **kwargs):
        super().__init__(name, source, max_length=3, **kwargs)
        self.read_fields = [f'{source}.code']
        self.sortable = False

    def extract(self, row):
        currency = row.get(f'{self.source}.')
        return currency['code'] if currency else None

    def load_value(self, value):
        if not isinstance(value, str) \
                or not re.fullmatch(self.pattern(), value):
            raise ValueError("must be an ISO 4217 code such as \"EUR\"")
        return value

    def pattern(self, forbidden=''):
        return '[A-Z]{3}'

    def parse_query(self, text):
        return self.load_value(text)

    def resolve(self, value):
        if value is None:
            return None
        Currency = Pool().get('currency.currency')
        currencies = Currency.search([('code', '=', value)], limit=1)
        if not currencies:
            raise MissingRecord(f"no currency with code {value!r}")
        return currencies[0].id

    def query_clause(self, operator, value):
        return (f'{self.source}.code', operator, value)

    def value_schema(self):
        return {'type': 'string', 'pattern': f'^{self.pattern()}$'}


class Resource:
    def __init__(self, name, singular, model, attributes, *,
            description, domain=(), defaults=None, required_one_of=(),
            required_when=None, deletable=None):
        self.name = name
        self.singular = singular
        self.model = model
        self.attributes = {a.name: a for a in attributes}
        self.description = description
        self.domain = list(domain)
        self.defaults = defaults or {}
        self.required_one_of = required_one_of
        # {name: (other, values[, given])}: name may not be null when other
        # has one of the values, and must be given on create unless given
        # is False (a default then fills it).
        self.required_when = {
            name: (rule + (True,))[:3]
            for name, rule in (required_when or {}).items()}
        # (domain, message): only records in the domain may be deleted.
        self.deletable = deletable

    @property
    def schema_name(self):
        return self.singular.capitalize()

    def read(self, ids):
        "Serialize the records of ids, in that order"
        Model = Pool().get(self.model)
        names = set()
        for attribute in self.attributes.values():
            names.update(getattr(attribute, 'read_fields', [attribute.source]))
        mechanisms = sorted(
            n for n in names if is_contact_mechanism(Model, n))
        rows = {r['id']: r for r in Model.read(
                list(ids), sorted(names - set(mechanisms)))}
        if mechanisms:
            read_contact_mechanisms(rows, mechanisms)
        return [self.dump(rows[i]) for i in ids]

    def dump(self, row):
        result = {}
        for attribute in self.attributes.values():
            if hasattr(attribute, 'extract'):
                result[attribute.name] = attribute.extract(row)
            else:
                result[attribute.name] = attribute.dump(row[attribute.source])
        return result

    def load(self, payload, creating):
        """Return Tryton values of a request body

        Raise InvalidRequest for a body that does not fit the resource's
        schema, else InvalidReference for ids or codes that name no
        record."""
        if not isinstance(payload, dict):
            raise InvalidRequest(
                "The request body must be a JSON object.",
                [field_error('', "must be a JSON object")])
        errors, missing, values = [], [], {}
        for name, value in payload.items():
            attribute = self.attributes.get(name)
            if attribute is None:
                errors.append(field_error(name, "unknown attribute"))
                continue
            if attribute.read_only:
                errors.append(field_error(name, "is read-only"))
                continue
            try:
                value = attribute.load(value)
                if hasattr(attribute, 'resolve'):
                    value = attribute.resolve(value)
            except MissingRecord as exception:
                missing.append(field_error(name, str(exception)))
                continue
            except ValueError as exception:
                errors.append(field_error(name, str(exception)))
                continue
            values[attribute.source] = value
        if creating:
            for attribute in self.attributes.values():
                if attribute.required and attribute.name not in payload:
                    errors.append(field_error(attribute.name, "is required"))
            if self.required_one_of and not any(
                    is_filled(payload.get(n)) for n in self.required_one_of):
                errors.append(field_error(
                        self.required_one_of[0],
                        "one of %s is required" % ', '.join(
                            self.required_one_of)))
        errors += self.check_required_when(payload, creating)
        if errors:
            raise InvalidRequest(
                "The request body has invalid attributes.", errors)

        missing += self.missing_references(values)
        if missing:
            raise InvalidReference(
                "The request body refers to records that do not exist.",
                missing)
        if creating:
            values = {**self.defaults, **values}
        return values

    def check_required_when(self, payload, creating):
        "Return an error for each attribute its required_when rule lacks"
        errors = []
        for name, (other, values, given) in self.required_when.items():
            if payload.get(other) not in values:
                continue
            if payload.get(name) is None and (
                    (creating and given) or name in payload):
                errors.append(field_error(
                        name, f"is required when {other} is one of: "
                        + ', '.join(values)))
        return errors

    def missing_references(self, values):
        "Return an error for each Reference of values to no record"
        errors = []
        for attribute in self.attributes.values():
            value = values.get(attribute.source)
            if not isinstance(attribute, Reference) or value is None:
                continue
            target = RESOURCES[attribute.resource]
            Target = Pool().get(target.model)
            if not Target.search(
                    [('id', '=', value)] + target.domain, limit=1):
                errors.append(field_error(
                        attribute.name,
                        f"no {target.singular} with id {value}"))
        return errors


def is_filled(value):
    "Tell whether a value is a string that Tryton does not strip to empty"
    return isinstance(value, str) and bool(value.strip())


def is_contact_mechanism(Model, name):
    "Tell whether the field is a party's first contact mechanism of a type"
    field = Model._fields.get(name)
    return (Model.__name__ == 'party.party'
        and getattr(field, 'getter', None) == 'get_contact_mechanism')


def read_contact_mechanisms(rows, types):
    """Set the value of each contact mechanism type in the party rows

    The values are those of party.party's get_contact_mechanism, read in
    one query for all rows instead of record by record through the
    contact_mechanisms field, which took most of the time of a list page.
    """
    pool = Pool()
    ContactMechanism = pool.get('party.contact_mechanism')
    FieldAccess = pool.get('ir.model.field.access')
    table = ContactMechanism.__table__()
    cursor = Transaction().connection.cursor()

    # Model.read checked the access to the parties.  Like Tryton's getter,
    # this reads their mechanisms without checking access to them.
    FieldAccess.check('party.party', types, 'read')
    usage = Transaction().context.get('party_contact_mechanism_usage')
    columns = [table.party, table.type, table.value]
    if usage:
        columns.append(getattr(table, usage))

    # The first mechanism of a type in the order of one party's
    # contact_mechanisms wins, unless a later one has the usage.
    chosen = {}
    for parties in grouped_slice(list(rows), backend.MAX_QUERY_PARAMS):
        cursor.execute(*table.select(*columns,
                where=reduce_ids(table.party, parties)
                & table.type.in_(types)
                & (table.active == Literal(True)),
                order_by=[
                    table.party, NullsFirst(table.sequence.asc),
                    table.id.asc]))
        for party, type_, value, *usages in cursor:
            has_usage = bool(usages and usages[0])
            key = party, type_
            if key not in chosen or (has_usage and not chosen[key][1]):
                chosen[key] = value, has_usage
    for party, row in rows.items():
        for type_ in types:
            row[type_] = chosen.get((party, type_), ('', False))[0]


def _timestamps():
    return [CreatedAt(), UpdatedAt()]


CONTACTS = Resource(
    'contacts', 'contact', 'party.party', [
        Id(),
        String('first_name', description="Given name", example="Ada"),
        String('last_name', description="Family name", example="Lovelace"),
        # First and last name joined by a space
        String('name', read_only=True, sortable=True, max_length=511,
            description="Full name, from first and last name"),
        String('email', format='email', sortable=False,
            description="Primary email address",
            example="ada@example.com"),
        String('phone', max_length=64, sortable=False,
            description="Primary phone number"),
        String('job_title', description="Job title"),
        Reference('account_id', 'account', resource='accounts',
            description="Account the contact belongs to"),
        *_timestamps(),
        ],
    description="People you sell to; each may belong to an account.",
    domain=[('kind', '=', 'person')],
    defaults={'kind': 'person'},
    required_one_of=('first_name', 'last_name'))

ACCOUNTS = Resource(
    'accounts', 'account', 'party.party', [
        Id(),
        String('name', required=True, description="Organisation name",
            example="Analytical Engines Ltd"),
        String('website', sortable=False, description="Website URL"),
        String('phone', max_length=64, sortable=False,
            description="Main phone number"),
        *_timestamps(),
        ],
    description="Organisations you sell to.",
    domain=[('kind', '=', 'organisation')],
    defaults={'kind': 'organisation'})

STAGES = ['lead', 'opportunity', 'converted', 'won', 'lost', 'cancelled']

DEALS = Resource(
    'deals', 'deal', 'sale.opportunity', [
        Id(),
        String('number', read_only=True, description="Reference number"),
        String('name', 'description', required=True,
            description="What is being sold", example="50 licences"),
        Reference('account_id', 'party', resource='accounts',
            description="Account the deal is with"),
        Reference('contact_id', 'contact_person', resource='contacts',
            description="Contact the deal is negotiated with"),
        Decimal('amount', description="Expected revenue, in the currency",
            example="1250.00"),
        CurrencyCode('currency', 'currency', nullable=False,
            description="ISO 4217 currency code; the company's by default"),
        Enum('stage', 'state', choices=STAGES, nullable=False,
            description="Pipeline stage; won and lost close the deal"),
        Probability('probability', 'conversion_probability',
            nullable=False,
            description="Chance to win, from 0 to 1; stored rounded to 4 "
            "decimal places"),
        Date('expected_close_date', 'end_date',
            description="When the deal is expected to close"),
        Reference('owner_id', 'employee', resource='employees',
            description="Employee who owns the deal"),
        *_timestamps(),
        ],
    description="Sales opportunities moving through the pipeline.",
    # sale_opportunity 8.0 requires the party past the lead stage.
    # The owner too, but the user's employee is its default.
    required_when={
        'account_id': ('stage', ['opportunity', 'converted', 'won']),
        'owner_id': ('stage', ['opportunity', 'converted', 'won'], False)},
    # The rule of sale_opportunity 8.0, checked first to return a 409.
    deletable=([('state', 'in', ['cancelled', 'draft'])],
        "Only a cancelled deal can be deleted; set its stage to cancelled "
        "first."))

ACTIVITY_TYPES = ['call', 'email', 'meeting', 'note', 'task']

ACTIVITIES = Resource(
    'activities', 'activity', 'crm.activity', [
        Id(),
        Enum('type', choices=ACTIVITY_TYPES, nullable=False,
            description="Kind of activity"),
        String('subject', required=True, description="Short summary",
            example="Discovery call"),
        Text('notes', description="Free text"),
        DateTime('due_at', description="When it is due (UTC)"),
        Boolean('done', nullable=False, description="Whether it is done"),
        DateTime('done_at', description="When it was done (UTC)"),
        Reference('contact_id', 'contact', resource='contacts',
            description="Contact it concerns"),
        Reference('account_id', 'account', resource='accounts',
            description="Account it concerns"),
        Reference('deal_id', 'deal', resource='deals',
            description="Deal it concerns"),
        Reference('owner_id', 'owner', resource='employees',
            description="Employee who owns it"),
        *_timestamps(),
        ],
    description="Calls, emails, meetings, notes and tasks.")

# Employees are not served, but deals and activities refer to them.
EMPLOYEES = Resource(
    'employees', 'employee', 'company.employee', [Id()],
    description="Employees of the company.")

RESOURCES = {r.name: r for r in [
        CONTACTS, ACCOUNTS, DEALS, ACTIVITIES, EMPLOYEES]}
SERVED = ['contacts', 'accounts', 'deals', 'activities']
