"""Events of the CRM and the outbox that turns them into deliveries.

The create, write and delete methods of parties, deals and activities
call the functions below, so a change made through the web client, the
API or any other Tryton code produces the same events.  Each event
subscribed by an active webhook becomes one ``crm.webhook.delivery`` row
per webhook, created in the transaction of the change, with its queue
task: a rolled back change leaves neither, and the task only runs once
the change is committed.

An event carries the record as the public API returns it (one
serializer, ``crm_public_api.resources``), and for updates the previous
values of the attributes that changed.  A write that changes no attribute
of the API, only ``updated_at``, produces no event.

Parties are shared by all companies in Tryton, so contact and account
events go to the webhooks of every company.  Deal and activity events go
to the webhooks of the record's company.

NOTE: deliveries are not ordered, not even those of one change, so
receivers must sort by occurred_at.
"""
import datetime as dt
import json
import uuid

from trytond.pool import Pool
from trytond.transaction import without_check_access

from crm_public_api.resources import RESOURCES
from crm_public_api.schema import DateTime

CATALOGUE = [
    ('contact.created', 'contacts', "A contact was created."),
    ('contact.updated', 'contacts', "Attributes of a contact changed."),
    ('contact.deleted', 'contacts',
        "A contact was deleted; data holds its last state."),
    ('account.created', 'accounts', "An account was created."),
    ('account.updated', 'accounts', "Attributes of an account changed."),
    ('account.deleted', 'accounts',
        "An account was deleted; data holds its last state."),
    ('deal.created', 'deals', "A deal was created."),
    ('deal.updated', 'deals',
        "Attributes of a deal changed, its stage included."),
    ('deal.deleted', 'deals',
        "A deal was deleted; data holds its last state."),
    ('deal.stage_changed', 'deals',
        "A deal moved to another stage; previous holds the old stage."),
    ('deal.won', 'deals', "A deal moved to the won stage."),
    ('deal.lost', 'deals', "A deal moved to the lost stage."),
    ('activity.created', 'activities', "An activity was created."),
    ('activity.updated', 'activities',
        "Attributes of an activity changed."),
    ('activity.deleted', 'activities',
        "An activity was deleted; data holds its last state."),
    ('ping', None,
        "A test call sent on request; data names the webhook."),
    ]
EVENT_TYPES = [t for t, _, _ in CATALOGUE]
PREFIXES = {
    'contacts': 'contact',
    'accounts': 'account',
    'deals': 'deal',
    'activities': 'activity',
    }
# Attributes that change on every write and tell nothing by themselves.
UNTRACKED = {'updated_at'}


def new_event_id():
    return 'evt_' + uuid.uuid4().hex


def now():
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def encode(event_id, event_type, occurred_at, data, previous=None):
    "Return the exact bytes of an event's body"
    document = {
        'id': event_id,
        'type': event_type,
        'occurred_at': DateTime('occurred_at', description='').dump(
            occurred_at),
        'data': data,
        'previous': previous,
        }
    return json.dumps(
        document, separators=(',', ':'), ensure_ascii=False).encode('utf-8')


class Event:
    def __init__(self, type, data, previous=None, company=None):
        self.type = type
        self.data = data
        self.previous = previous
        # None for every company
        self.company = company


def is_subscribed(prefixes):
    "Tell whether an active webhook subscribes to events of the prefixes"
    Webhook = Pool().get('crm.webhook')
    return any(
        t.split('.', 1)[0] in prefixes
        for s in Webhook.subscriptions() for t in s.event_types)


def publish(events):
    "Create the deliveries of events to the webhooks that subscribe"
    pool = Pool()
    Webhook = pool.get('crm.webhook')
    Delivery = pool.get('crm.webhook.delivery')
    subscriptions = Webhook.subscriptions()
    occurred_at = now()
    vlist = []
    for event in events:
        webhooks = [
            s.id for s in subscriptions
            if event.type in s.event_types
            and (event.company is None or s.company == event.company)]
        if not webhooks:
            continue
        event_id = new_event_id()
        payload = encode(
            event_id, event.type, occurred_at, event.data, event.previous)
        for webhook in webhooks:
            vlist.append({
                    'webhook': webhook,
                    'event_id': event_id,
                    'event_type': event.type,
                    'payload': payload,
                    })
    if vlist:
        with without_check_access():
            Delivery.enqueue(Delivery.create_pending(vlist))


class EventSourceMixin:
    """Publish the events of a model's creates, writes and deletes

    A model names the resource of each record (or None for records the
    API does not serve) and the company whose webhooks receive them: by
    default the resource of ``_webhook_resource`` and the record's
    company, when the model has one."""
    __slots__ = ()
    _webhook_resource = None

    @classmethod
    def _webhook_resources(cls, records):
        "Return the resource name of each record id, None when not served"
        return {r.id: cls._webhook_resource for r in records}

    @classmethod
    def _webhook_companies(cls, records):
        "Return the company id of each record id, None for every company"
        if 'company' in cls._fields:
            return {r.id: r.company.id for r in records}
        return {r.id: None for r in records}

    @classmethod
    def _webhook_prefixes(cls):
        "Return the prefixes of the event types of the model"
        return {PREFIXES[cls._webhook_resource]}

    @classmethod
    def _webhook_untracked_fields(cls):
        """Return the fields that no API attribute depends on

        A write of these fields alone is not compared before and after."""
        return set()

    @classmethod
    def _webhook_update_events(cls, prefix, data, changed, company):
        "Return the events of a record whose attributes changed"
        return [Event(f'{prefix}.updated', data, changed, company)]

    @classmethod
    def create(cls, vlist):
        records = super().create(vlist)
        if is_subscribed(cls._webhook_prefixes()):
            states = _snapshot(cls, records)
            publish([
                    Event(f'{PREFIXES[r]}.created', data, None, company)
                    for r, company, data in states.values() if r])
        return records

    @classmethod
    def write(cls, *args):
        records, names = [], set()
        for records_, values in zip(args[::2], args[1::2]):
            records.extend(records_)
            names.update(values)
        records = list({r.id: r for r in records}.values())
        before = None
        if (records and not names <= cls._webhook_untracked_fields()
                and is_subscribed(cls._webhook_prefixes())):
            before = _snapshot(cls, records)

        super().write(*args)

        if before:
            after = _snapshot(cls, records)
            publish(cls._webhook_changes(before, after))

    @classmethod
    def delete(cls, records):
        before = None
        if records and is_subscribed(cls._webhook_prefixes()):
            before = _snapshot(cls, records)

        super().delete(records)

        if before:
            publish([
                    Event(f'{PREFIXES[r]}.deleted', data, None, company)
                    for r, company, data in before.values() if r])

    @classmethod
    def _webhook_changes(cls, before, after):
        events = []
        for record_id, (old_resource, old_company, old) in before.items():
            new_resource, company, new = after[record_id]
            if old_resource != new_resource:
                # A party whose kind changed leaves one resource for
                # another.
                if old_resource:
                    events.append(Event(
                            f'{PREFIXES[old_resource]}.deleted', old, None,
                            old_company))
                if new_resource:
                    events.append(Event(
                            f'{PREFIXES[new_resource]}.created', new, None,
                            company))
                continue
            if not new_resource:
                continue
            changed = {
                name: value for name, value in old.items()
                if name not in UNTRACKED and new.get(name) != value}
            if changed:
                events.extend(cls._webhook_update_events(
                        PREFIXES[new_resource], new, changed, company))
        return events


def _snapshot(Model, records):
    """Return the resource, company and API data of each record, by id

    Records are read without access checks: the receiver of a webhook is
    not the user who made the change."""
    # Browse again, so that values cached before a write are not reused.
    records = Model.browse([r.id for r in records])
    with without_check_access():
        resources = Model._webhook_resources(records)
        companies = Model._webhook_companies(records)
        by_resource = {}
        for record_id, resource in resources.items():
            if resource:
                by_resource.setdefault(resource, []).append(record_id)
        data = {}
        for resource, ids in by_resource.items():
            data.update(zip(ids, RESOURCES[resource].read(ids)))
    return {
        i: (resources[i], companies[i], data.get(i)) for i in resources}
