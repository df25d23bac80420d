"""Webhook operations of the public API, registered with its router so
they share its authentication, scopes, rate limits, errors and OpenAPI
document.

The handlers look webhooks up with the caller's access rights and company
rules.  Deliveries and attempts are then read and written without access
checks, because only this module writes them.
"""
import json

from werkzeug.wrappers import Response

from trytond.pool import Pool
from trytond.transaction import inactive_records, without_check_access

from crm_public_api import cursor as cursors
from crm_public_api import openapi, query, router, scopes
from crm_public_api.problem import (
    Conflict, InvalidCursor, InvalidRequest, NotFound, Unavailable,
    UnusableURL, field_error)
from crm_public_api.schema import NUL, DateTime, String, char_class

from . import event, signing
from .delivery import STATES
from .exceptions import EncryptionKeyError, WebhookURLError

scopes.register('webhooks')

TAG = 'Webhooks'
READ, WRITE = 'webhooks:read', 'webhooks:write'
MAX_URL = 2048
MAX_NAME = 255
MAX_GRACE = 7 * 24 * 3600
TIMESTAMP = DateTime('timestamp', description='')
ID_PARAMETER = {
    'name': 'id', 'in': 'path', 'required': True,
    'schema': {'type': 'integer', 'minimum': 1, 'maximum': 2 ** 31 - 1},
    }
SUBSCRIBABLE = [t for t in event.EVENT_TYPES if t != 'ping']


class WebhookURL(String):
    "Text of an http or https URL; guard.check_url has the last word"

    def pattern(self, forbidden=''):
        forbidden = NUL + self.forbidden_chars + forbidden
        # At least one character of the host must follow the scheme.
        host = char_class(forbidden + '/?#', negated=True)
        rest = char_class(forbidden, negated=True)
        return f'[hH][tT][tT][pP][sS]?://{host}{rest}*'

    @property
    def pattern_message(self):
        return "must be an http or https URL"


NAME = String(
    'name', required=True, max_length=MAX_NAME,
    description="Label for people")
URL = WebhookURL(
    'url', max_length=MAX_URL, nullable=False,
    description="http or https URL that receives the events; loopback, "
    "private and other internal addresses are rejected")


def _ref(name):
    return {'$ref': f'#/components/schemas/{name}'}


def _timestamp(description, nullable=True):
    return {
        'type': ['string', 'null'] if nullable else 'string',
        'format': 'date-time', 'description': description}


_WRITABLE = {
    'name': {**NAME.value_schema(), 'description': NAME.description},
    'url': {**URL.value_schema(), 'description': URL.description},
    'event_types': {
        'type': 'array', 'minItems': 1, 'uniqueItems': True,
        'items': {'type': 'string', 'enum': SUBSCRIBABLE},
        'description': "Events sent to the URL"},
    'active': {'type': 'boolean',
        'description': "Inactive webhooks receive nothing"},
    }
router.SCHEMAS.update({
    'Webhook': {
        'type': 'object',
        'required': ['id', 'name', 'url', 'event_types', 'active',
            'disabled_at', 'disabled_reason', 'previous_secret_expires_at',
            'created_at', 'updated_at'],
        'properties': {
            'id': {'type': 'integer'},
            **_WRITABLE,
            'disabled_at': _timestamp(
                "When a 410 answer deactivated the webhook"),
            'disabled_reason': {'type': ['string', 'null']},
            'previous_secret_expires_at': _timestamp(
                "Until then requests also carry a signature with the "
                "previous secret"),
            'created_at': _timestamp("Creation time (UTC)", False),
            'updated_at': _timestamp("Last change (UTC)", False),
            },
        },
    'WebhookCreated': {
        'allOf': [_ref('Webhook'), {
                'type': 'object', 'required': ['secret'],
                'properties': {'secret': {
                        'type': 'string', 'pattern': '^whsec_',
                        'description': "Signing secret, shown only in "
                        "this response"}}}],
        },
    'WebhookCreate': {
        'type': 'object', 'additionalProperties': False,
        'required': ['name', 'url', 'event_types'],
        'properties': _WRITABLE,
        },
    'WebhookUpdate': {
        'type': 'object', 'additionalProperties': False,
        'properties': _WRITABLE,
        },
    'WebhookPage': openapi.page_schema('Webhook'),
    'WebhookSecret': {
        'type': 'object',
        'required': ['secret', 'previous_secret_expires_at'],
        'properties': {
            'secret': {'type': 'string', 'pattern': '^whsec_'},
            'previous_secret_expires_at': _timestamp(
                "End of the window in which both secrets sign"),
            },
        },
    'WebhookAttempt': {
        'type': 'object',
        'required': ['number', 'attempted_at', 'duration_ms',
            'request_headers', 'response_status', 'response_body',
            'error_kind', 'error'],
        'properties': {
            'number': {'type': 'integer'},
            'attempted_at': _timestamp("Start of the request", False),
            'duration_ms': {'type': ['integer', 'null']},
            'request_headers': {
                'type': 'object',
                'additionalProperties': {'type': 'string'},
                'description': "Headers sent, without the signatures"},
            'response_status': {'type': ['integer', 'null']},
            'response_body': {
                'type': ['string', 'null'],
                'description': "First kilobyte of the response"},
            'error_kind': {
                'type': ['string', 'null'],
                'enum': ['status', 'gone', 'redirect', 'timeout',
                    'connection', 'tls', 'blocked', None]},
            'error': {'type': ['string', 'null']},
            },
        },
    'WebhookDelivery': {
        'type': 'object',
        'required': ['id', 'webhook_id', 'event_id', 'event_type',
            'status', 'attempt_count', 'next_attempt_at', 'created_at',
            'payload', 'attempts'],
        'properties': {
            'id': {'type': 'integer'},
            'webhook_id': {'type': 'integer'},
            'event_id': {'type': 'string',
                'description': "Sent as webhook-id on every attempt"},
            'event_type': {'type': 'string', 'enum': event.EVENT_TYPES},
            'status': {'type': 'string', 'enum': [s for s, _ in STATES]},
            'attempt_count': {'type': 'integer',
                'description': "Attempts since creation or the last "
                "redelivery"},
            'next_attempt_at': _timestamp("When the next attempt is due"),
            'created_at': _timestamp("When the event occurred", False),
            'payload': {'type': 'object',
                'description': "The body sent, parsed"},
            'attempts': {'type': 'array', 'items': _ref('WebhookAttempt')},
            },
        },
    'WebhookDeliveryPage': openapi.page_schema('WebhookDelivery'),
    'WebhookTestResult': {
        'type': 'object',
        'required': ['succeeded', 'delivery'],
        'properties': {
            'succeeded': {'type': 'boolean'},
            'delivery': _ref('WebhookDelivery'),
            },
        },
    'WebhookReplay': {
        'type': 'object', 'additionalProperties': False,
        'required': ['since'],
        'properties': {'since': {
                'type': 'string', 'format': 'date-time',
                'description': "Replay the failed deliveries created at "
                "or after this time"}},
        },
    'WebhookReplayResult': {
        'type': 'object', 'required': ['replayed'],
        'properties': {'replayed': {'type': 'integer'}},
        },
    'EventTypes': {
        'type': 'object', 'required': ['data'],
        'properties': {'data': {'type': 'array', 'items': {
                    'type': 'object',
                    'required': [
                        'type', 'resource', 'description', 'subscribable'],
                    'properties': {
                        'type': {'type': 'string'},
                        'resource': {'type': ['string', 'null']},
                        'description': {'type': 'string'},
                        'subscribable': {
                            'type': 'boolean',
                            'description': "Whether a webhook may list it in "
                            "event_types; ping is only sent by the test "
                            "operation.",
                            },
                        }}}},
        },
    })


def dump_webhook(webhook):
    return {
        'id': webhook.id,
        'name': webhook.name,
        'url': webhook.url,
        'event_types': list(webhook.event_types or []),
        'active': bool(webhook.active),
        'disabled_at': TIMESTAMP.dump(webhook.disabled_at),
        'disabled_reason': webhook.disabled_reason,
        'previous_secret_expires_at': TIMESTAMP.dump(
            webhook.previous_secret_expires_at),
        'created_at': TIMESTAMP.dump(webhook.create_date),
        'updated_at': TIMESTAMP.dump(
            webhook.write_date or webhook.create_date),
        }


def dump_attempt(attempt):
    return {
        'number': attempt.number,
        'attempted_at': TIMESTAMP.dump(attempt.attempted_at),
        'duration_ms': attempt.duration_ms,
        'request_headers': json.loads(attempt.request_headers or '{}'),
        'response_status': attempt.response_status,
        'response_body': attempt.response_body,
        'error_kind': attempt.error_kind,
        'error': attempt.error,
        }


def dump_delivery(delivery):
    return {
        'id': delivery.id,
        'webhook_id': delivery.webhook.id,
        'event_id': delivery.event_id,
        'event_type': delivery.event_type,
        'status': delivery.state,
        'attempt_count': delivery.attempt_count,
        'next_attempt_at': TIMESTAMP.dump(delivery.next_attempt_at),
        'created_at': TIMESTAMP.dump(delivery.create_date),
        'payload': delivery.payload_json,
        'attempts': [dump_attempt(a) for a in delivery.attempts],
        }


def load_webhook(body, creating):
    "Return the Tryton values of a webhook body or raise InvalidRequest"
    if not isinstance(body, dict):
        raise InvalidRequest(
            "The request body must be a JSON object.",
            [field_error('', "must be a JSON object")])
    errors, values = [], {}
    for name, value in body.items():
        checker = _CHECKS.get(name)
        if checker is None:
            errors.append(field_error(name, "unknown attribute"))
            continue
        try:
            values[name] = checker(value)
        except ValueError as exception:
            errors.append(field_error(name, str(exception)))
    if creating:
        for name in ['name', 'url', 'event_types']:
            if name not in body:
                errors.append(field_error(name, "is required"))
    if errors:
        raise InvalidRequest(
            "The request body has invalid attributes.", errors)
    return values


def _check_name(value):
    return NAME.load(value)


def _check_url(value):
    return URL.load(value)


def _check_event_types(value):
    if not isinstance(value, list) or not value:
        raise ValueError("must be a non-empty array of event types")
    if 'ping' in value:
        raise ValueError(
            "ping cannot be subscribed to: it is only sent by POST "
            f"{router.BASE}/webhooks/{{id}}/test")
    unknown = [v for v in value if v not in SUBSCRIBABLE]
    if unknown:
        raise ValueError(
            "unknown event types: %s; see GET %s/events/types" % (
                ', '.join(map(str, unknown)), router.BASE))
    if len(set(value)) != len(value):
        raise ValueError("must not repeat an event type")
    return value


def _check_active(value):
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


_CHECKS = {
    'name': _check_name,
    'url': _check_url,
    'event_types': _check_event_types,
    'active': _check_active,
    }


def find_webhook(webhook_id):
    "Return the webhook the caller may see or raise NotFound"
    Webhook = Pool().get('crm.webhook')
    if 0 < webhook_id < 2 ** 31:
        with inactive_records():
            webhooks = Webhook.search([('id', '=', webhook_id)], limit=1)
        if webhooks:
            return webhooks[0]
    raise NotFound(f"No webhook with id {webhook_id} exists.")


def check_write_access():
    "Raise unless the caller may change webhooks, as deliveries follow them"
    ModelAccess = Pool().get('ir.model.access')
    ModelAccess.check('crm.webhook', 'write')


def parse_limit(request):
    text = request.args.get('limit')
    if text is None:
        return query.DEFAULT_LIMIT
    if not text.isdigit() or not 1 <= int(text) <= query.MAX_LIMIT:
        raise InvalidRequest("The query parameters are invalid.", [
                field_error('limit', "must be an integer from 1 to "
                    f"{query.MAX_LIMIT}", 'query')])
    return int(text)


def parse_cursor(request, digest):
    "Return the id after which the page starts, or None"
    text = request.args.get('cursor')
    if not text:
        return None
    try:
        _, record_id = cursors.decode(text, digest, 0)
    except cursors.InvalidCursor as exception:
        raise InvalidCursor(
            f"The cursor {exception}.",
            [field_error('cursor', str(exception), 'query')]) from None
    return record_id


def check_parameters(request, known):
    unknown = sorted(set(request.args) - set(known))
    if unknown:
        raise InvalidRequest("The query parameters are invalid.", [
                field_error(name, "unknown query parameter; use: "
                    + ', '.join(known), 'query') for name in unknown])


def list_webhooks(request, **kwargs):
    Webhook = Pool().get('crm.webhook')
    check_parameters(request, ['limit', 'cursor'])
    limit = parse_limit(request)
    digest = cursors.query_digest('', [])
    after = parse_cursor(request, digest)
    domain = [('id', '>', after)] if after else []
    with inactive_records():
        webhooks = Webhook.search(
            domain, order=[('id', 'ASC')], limit=limit + 1)
    page = webhooks[:limit]
    next_cursor = None
    if len(webhooks) > limit:
        next_cursor = cursors.encode([], page[-1].id, digest)
    return router.json_response({
            'data': [dump_webhook(w) for w in page],
            'next_cursor': next_cursor,
            })


def create_webhook(request, body, **kwargs):
    Webhook = Pool().get('crm.webhook')
    values = load_webhook(body, creating=True)
    secret = signing.generate_secret()
    try:
        values['secret_encrypted'] = _encrypt(secret)
        webhook, = Webhook.create([values])
    except EncryptionKeyError as exception:
        raise Unavailable(exception.message) from exception
    except WebhookURLError as exception:
        raise UnusableURL(exception.message) from exception
    data = dump_webhook(webhook)
    data['secret'] = secret
    return router.json_response(data, 201, {
            'Location': f"{router.BASE}/webhooks/{webhook.id}"})


def _encrypt(secret):
    from .webhook import encrypt
    return encrypt(secret)


def get_webhook(request, id, **kwargs):
    return router.json_response(dump_webhook(find_webhook(id)))


def update_webhook(request, id, body, **kwargs):
    Webhook = Pool().get('crm.webhook')
    webhook = find_webhook(id)
    values = load_webhook(body, creating=False)
    if values.get('active'):
        values.update({'disabled_at': None, 'disabled_reason': None})
    if values:
        try:
            Webhook.write([webhook], values)
        except WebhookURLError as exception:
            raise UnusableURL(exception.message) from exception
    return router.json_response(dump_webhook(webhook))


def delete_webhook(request, id, **kwargs):
    Webhook = Pool().get('crm.webhook')
    Webhook.delete([find_webhook(id)])
    return Response(status=204)


def rotate_secret(request, id, **kwargs):
    check_parameters(request, ['grace_period'])
    grace = request.args.get('grace_period')
    if grace is not None:
        if not grace.isdigit() or int(grace) > MAX_GRACE:
            raise InvalidRequest("The query parameters are invalid.", [
                    field_error('grace_period', "must be an integer from 0 "
                        f"to {MAX_GRACE} seconds", 'query')])
        grace = int(grace)
    webhook = find_webhook(id)
    check_write_access()
    try:
        with without_check_access():
            secret = webhook.rotate_secret(grace)
    except EncryptionKeyError as exception:
        raise Unavailable(exception.message) from exception
    webhook = find_webhook(id)
    return router.json_response({
            'secret': secret,
            'previous_secret_expires_at': TIMESTAMP.dump(
                webhook.previous_secret_expires_at),
            })


def test_webhook(request, id, **kwargs):
    # NOTE: the ping is sent inside the API transaction, so a retry of the
    # transaction after a database conflict sends a second ping.
    Delivery = Pool().get('crm.webhook.delivery')
    webhook = find_webhook(id)
    check_write_access()
    event_id = event.new_event_id()
    payload = event.encode(event_id, 'ping', event.now(), {
            'webhook_id': webhook.id,
            'message': "Test call from the CRM",
            })
    try:
        with without_check_access():
            delivery, = Delivery.create([{
                        'webhook': webhook.id,
                        'event_id': event_id,
                        'event_type': 'ping',
                        'payload': payload,
                        'queued_at': None,
                        }])
            delivery.attempt_now()
            delivery = Delivery(delivery.id)
            data = dump_delivery(delivery)
    except EncryptionKeyError as exception:
        raise Unavailable(exception.message) from exception
    return router.json_response({
            'succeeded': data['status'] == 'succeeded',
            'delivery': data,
            })


def list_deliveries(request, id, **kwargs):
    Delivery = Pool().get('crm.webhook.delivery')
    check_parameters(request, ['limit', 'cursor', 'status', 'event_type'])
    webhook = find_webhook(id)
    limit = parse_limit(request)

    filters, domain = [], [('webhook', '=', webhook.id)]
    errors = []
    for name, field, choices in [
            ('status', 'state', [s for s, _ in STATES]),
            ('event_type', 'event_type', event.EVENT_TYPES)]:
        value = request.args.get(name)
        if value is None:
            continue
        if value not in choices:
            errors.append(field_error(
                    name, "must be one of: " + ', '.join(choices), 'query'))
            continue
        filters.append((name, 'eq', value))
        domain.append((field, '=', value))
    if errors:
        raise InvalidRequest("The query parameters are invalid.", errors)
    digest = cursors.query_digest('-id', filters)
    before = parse_cursor(request, digest)
    if before:
        domain.append(('id', '<', before))

    with without_check_access():
        deliveries = Delivery.search(
            domain, order=[('id', 'DESC')], limit=limit + 1)
        page = deliveries[:limit]
        data = [dump_delivery(d) for d in page]
    next_cursor = None
    if len(deliveries) > limit:
        next_cursor = cursors.encode([], page[-1].id, digest)
    return router.json_response({'data': data, 'next_cursor': next_cursor})


def redeliver(request, id, **kwargs):
    Delivery = Pool().get('crm.webhook.delivery')
    with without_check_access():
        deliveries = Delivery.search([('id', '=', id)]) \
            if 0 < id < 2 ** 31 else []
        webhook_id = deliveries[0].webhook.id if deliveries else None
    if not deliveries:
        raise NotFound(f"No delivery with id {id} exists.")
    # The caller must see the delivery's webhook.
    webhook = find_webhook(webhook_id)
    check_write_access()
    if not webhook.active:
        raise Conflict(
            f"Webhook {webhook.id} is inactive; activate it before "
            "redelivering its events.")
    with without_check_access():
        Delivery.redeliver(deliveries)
        data = dump_delivery(Delivery(id))
    return router.json_response(data, 202)


def replay(request, id, body, **kwargs):
    Delivery = Pool().get('crm.webhook.delivery')
    webhook = find_webhook(id)
    check_write_access()
    since = _load_since(body)
    if not webhook.active:
        raise Conflict(
            f"Webhook {webhook.id} is inactive; activate it before "
            "replaying its events.")
    with without_check_access():
        deliveries = Delivery.search([
                ('webhook', '=', webhook.id),
                ('state', '=', 'failed'),
                ('create_date', '>=', since),
                ], order=[('id', 'ASC')])
        Delivery.redeliver(deliveries)
    return router.json_response({'replayed': len(deliveries)}, 202)


def _load_since(body):
    if not isinstance(body, dict) or set(body) - {'since'}:
        raise InvalidRequest(
            "The request body must be an object with \"since\" only.",
            [field_error('', "must be {\"since\": <timestamp>}")])
    if body.get('since') is None:
        raise InvalidRequest("The request body has invalid attributes.", [
                field_error('since', "is required: replay the failed "
                    "deliveries created since this time")])
    try:
        return DateTime('since', description='').load(body.get('since'))
    except ValueError as exception:
        raise InvalidRequest("The request body has invalid attributes.", [
                field_error('since', str(exception))]) from None


def event_types(request, **kwargs):
    return router.json_response({'data': [
                {'type': t, 'resource': r, 'description': d,
                    'subscribable': t in SUBSCRIBABLE}
                for t, r, d in event.CATALOGUE]})


def _register():
    register, Operation = router.register, router.Operation
    webhook = _ref('Webhook')
    register(Operation(
            'GET', '/webhooks', list_webhooks, operation_id='list_webhooks',
            summary="List webhooks", tag=TAG, scope=READ,
            parameters=query.PAGE_PARAMETERS,
            responses={200: ("A page of webhooks", _ref('WebhookPage'))}))

    register(Operation(
            'POST', '/webhooks', create_webhook,
            operation_id='create_webhook', summary="Create a webhook",
            description="The response holds the signing secret; no other "
            "response shows it again.",
            tag=TAG, scope=WRITE, request_schema=_ref('WebhookCreate'),
            responses={201: ("The webhook and its secret",
                    _ref('WebhookCreated'))}))

    register(Operation(
            'GET', '/webhooks/{id}', get_webhook, operation_id='get_webhook',
            summary="Get a webhook", tag=TAG, scope=READ,
            parameters=[ID_PARAMETER],
            responses={200: ("The webhook", webhook)}))

    register(Operation(
            'PATCH', '/webhooks/{id}', update_webhook,
            operation_id='update_webhook', summary="Update a webhook",
            description="Changes only the attributes given; activating a "
            "webhook clears why it was disabled.",
            tag=TAG, scope=WRITE, parameters=[ID_PARAMETER],
            request_schema=_ref('WebhookUpdate'),
            responses={200: ("The updated webhook", webhook)}))

    register(Operation(
            'DELETE', '/webhooks/{id}', delete_webhook,
            operation_id='delete_webhook',
            summary="Delete a webhook and its delivery log", tag=TAG,
            scope=WRITE, parameters=[ID_PARAMETER],
            responses={204: ("The webhook is deleted", None)}))

    register(Operation(
            'POST', '/webhooks/{id}/rotate-secret', rotate_secret,
            operation_id='rotate_webhook_secret',
            summary="Replace the signing secret",
            description="During the grace period, requests carry two "
            "signatures: one with the new secret and one with the "
            "previous.",
            tag=TAG, scope=WRITE, parameters=[ID_PARAMETER, {
                    'name': 'grace_period', 'in': 'query',
                    'required': False,
                    'description': "Seconds the previous secret keeps "
                    "signing; the server's default when absent",
                    'schema': {'type': 'integer', 'minimum': 0,
                        'maximum': MAX_GRACE}}],
            responses={200: ("The new secret", _ref('WebhookSecret'))}))

    register(Operation(
            'POST', '/webhooks/{id}/test', test_webhook,
            operation_id='test_webhook', summary="Send a ping event now",
            description="Signs and sends a ping through the same path as "
            "events, once and without retries, and returns the attempt.",
            tag=TAG, scope=WRITE, parameters=[ID_PARAMETER],
            responses={200: ("The result of the attempt",
                    _ref('WebhookTestResult'))}))

    register(Operation(
            'GET', '/webhooks/{id}/deliveries', list_deliveries,
            operation_id='list_webhook_deliveries',
            summary="List a webhook's deliveries and their attempts",
            description="Newest first.", tag=TAG, scope=READ,
            parameters=[ID_PARAMETER,
                {'name': 'status', 'in': 'query', 'required': False,
                    'schema': {'type': 'string',
                        'enum': [s for s, _ in STATES]}},
                {'name': 'event_type', 'in': 'query', 'required': False,
                    'schema': {'type': 'string',
                        'enum': event.EVENT_TYPES}},
                ] + query.PAGE_PARAMETERS,
            responses={200: ("A page of deliveries",
                    _ref('WebhookDeliveryPage'))}))

    register(Operation(
            'POST', '/deliveries/{id}/redeliver', redeliver,
            operation_id='redeliver_webhook_delivery',
            summary="Send a delivery again",
            description="Same event id and body, with a fresh allowance "
            "of retries.",
            tag=TAG, scope=WRITE, parameters=[ID_PARAMETER],
            responses={202: ("The delivery, queued",
                    _ref('WebhookDelivery'))}))

    register(Operation(
            'POST', '/webhooks/{id}/replay', replay,
            operation_id='replay_webhook_deliveries',
            summary="Send again every failed delivery since a time",
            tag=TAG, scope=WRITE, parameters=[ID_PARAMETER],
            request_schema=_ref('WebhookReplay'),
            responses={202: ("How many deliveries are queued",
                    _ref('WebhookReplayResult'))}))

    register(Operation(
            'GET', '/events/types', event_types,
            operation_id='list_event_types',
            summary="List the event types webhooks can subscribe to",
            tag=TAG, scope=READ,
            responses={200: ("The event catalogue", _ref('EventTypes'))}))


_register()
