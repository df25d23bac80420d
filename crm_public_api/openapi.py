"OpenAPI 3.1 document generated from the registered operations"
import copy

from . import problem, router, scopes
from .resources import RESOURCES
from .schema import not_blank_pattern

PROBLEM_SCHEMA = {
    'type': 'object',
    'description': "RFC 9457 problem details",
    'required': ['type', 'title', 'status', 'detail'],
    'properties': {
        'type': {'type': 'string', 'description': (
                "URN of the problem, such as "
                "urn:crm:problem:invalid-request (parameters or a body "
                "that do not fit this document), "
                "urn:crm:problem:invalid-reference (ids or codes that "
                "name no record) or urn:crm:problem:invalid-cursor (a "
                "cursor not issued for the same sort and filters)")},
        'title': {'type': 'string'},
        'status': {'type': 'integer'},
        'detail': {'type': 'string'},
        'errors': {
            'type': 'array',
            'items': {
                'type': 'object',
                'required': ['field', 'in', 'message'],
                'properties': {
                    'field': {'type': 'string'},
                    'in': {'type': 'string',
                        'enum': ['body', 'query', 'path']},
                    'message': {'type': 'string'},
                    },
                },
            },
        },
    }

ERROR_STATUSES = {
    400: "Invalid parameters or body",
    401: "Missing, invalid, expired or revoked API key",
    403: "The API key lacks the scope, or its user the access right",
    404: "No such record",
    405: "Method not allowed",
    409: "The record is in use, or its state forbids the change",
    413: "Request body too large",
    415: "Request body is not JSON",
    422: "The CRM's rules reject the change",
    429: "Rate limit exceeded",
    500: "Server error",
    503: "Database busy or API not configured",
    }

RATE_LIMIT_HEADERS = {
    'RateLimit-Policy': {
        'description': "Quota and window of the key, in seconds",
        'schema': {'type': 'string'}},
    'RateLimit': {
        'description': "Remaining requests and seconds until reset",
        'schema': {'type': 'string'}},
    }


def page_schema(name):
    "Return the schema of a page of records of the schema name"
    return {
        'type': 'object',
        'required': ['data', 'next_cursor'],
        'properties': {
            'data': {'type': 'array',
                'items': {'$ref': f'#/components/schemas/{name}'}},
            'next_cursor': {
                'type': ['string', 'null'],
                'description': "Cursor of the next page; null on the "
                "last page"},
            },
        }


def conditional_rules(resource):
    """Return the anyOf alternatives that the create and the update
    bodies of a resource must each satisfy"""
    create_rules, update_rules = [], []
    if resource.required_one_of:
        create_rules.append([
                {'required': [n], 'properties': {n: {'type': 'string',
                            'minLength': 1,
                            'pattern': f'^{not_blank_pattern()}$'}}}
                for n in resource.required_one_of])
    for needed, (other, values, given) in resource.required_when.items():
        others = {'enum': [v for v in resource.attributes[other].choices
                if v not in values]}
        value = resource.attributes[needed].value_schema()
        # Either other has none of the values, or needed has a value.
        create_rules.append([
                {'properties': {other: others}},
                {'required': [needed] if given else [],
                    'properties': {needed: value}}])
        update_rules.append([
                {'properties': {other: others}},
                {'properties': {needed: value}}])
    return create_rules, update_rules


def resource_schemas(resource):
    name = resource.schema_name
    # NOTE: the record schema repeats the rules of input (patterns and
    # lengths), which a record written outside the API, with the Tryton
    # client or an import, may break.
    properties, writable = {}, {}
    for attribute in resource.attributes.values():
        schema = attribute.json_schema()
        properties[attribute.name] = schema
        if not attribute.read_only:
            writable[attribute.name] = {
                k: v for k, v in schema.items() if k != 'readOnly'}
    create = {
        'type': 'object', 'additionalProperties': False,
        'properties': writable,
        'required': [a.name for a in resource.attributes.values()
            if a.required],
        }
    update = {
        'type': 'object', 'additionalProperties': False,
        'properties': copy.deepcopy(writable),
        }
    create_rules, update_rules = conditional_rules(resource)
    for schema, rules in [(create, create_rules), (update, update_rules)]:
        if rules:
            schema['allOf'] = [{'anyOf': rule} for rule in rules]
    for attribute in resource.attributes.values():
        if attribute.required:
            # Required on create and never null on update.
            update['properties'][attribute.name]['type'] = \
                attribute.value_schema()['type']
    return {
        name: {
            'type': 'object',
            'description': resource.description,
            'properties': properties,
            'required': list(properties),
            },
        f'{name}Create': create,
        f'{name}Update': update,
        f'{name}Page': page_schema(name),
        }


def operation_document(operation):
    document = {
        'operationId': operation.operation_id,
        'summary': operation.summary,
        'tags': [operation.tag],
        'responses': {},
        }
    if operation.description:
        document['description'] = operation.description
    if operation.parameters:
        document['parameters'] = operation.parameters
    if operation.scope is None:
        document['security'] = []
    else:
        document['security'] = [{'apiKey': [operation.scope]
                    if operation.scope else []}]
    if operation.request_schema:
        document['requestBody'] = {
            'required': True,
            'content': {'application/json': {
                    'schema': operation.request_schema}},
            }
    for status, (description, schema) in operation.responses.items():
        response = {'description': description}
        if schema is not None:
            response['content'] = {'application/json': {'schema': schema}}
        if operation.scope is not None:
            response['headers'] = RATE_LIMIT_HEADERS
        document['responses'][str(status)] = response
    statuses = [400, 404, 405, 500]
    if operation.scope is not None:
        statuses += [401, 403, 429, 503]
    if operation.request_schema:
        statuses += [413, 415, 422]
    statuses += operation.problems
    for status in sorted(statuses):
        document['responses'][str(status)] = {
            '$ref': f'#/components/responses/Problem{status}'}
    return document


def build(server_url=None):
    paths = {}
    for operation in router.OPERATIONS:
        item = paths.setdefault(router.BASE + operation.path, {})
        item[operation.method.lower()] = operation_document(operation)
    schemas = {'Problem': PROBLEM_SCHEMA}
    for resource in RESOURCES.values():
        if resource.name != 'employees':
            schemas.update(resource_schemas(resource))
    for name, schema in router.SCHEMAS.items():
        schemas[name] = schema
    document = {
        'openapi': '3.1.0',
        'info': {
            'title': "CRM public API",
            'version': '1.0.0',
            'description': (
                "Contacts, accounts, deals and activities of the CRM. "
                "Authenticate with the header "
                "\"Authorization: Bearer YOUR_API_KEY\". "
                "Each key may make a limited number of requests per "
                "minute (100 by default); errors are RFC 9457 problem "
                "documents."),
            },
        'servers': [{'url': server_url or '/'}],
        'tags': sorted(
            ({'name': o.tag} for o in router.OPERATIONS),
            key=lambda t: t['name']),
        'paths': paths,
        'components': {
            'schemas': schemas,
            'securitySchemes': {
                'apiKey': {
                    'type': 'http',
                    'scheme': 'bearer',
                    'description': "API key in the Authorization header. "
                    "Scopes: " + ', '.join(
                        f'{s} ({d})' for s, d in scopes.SCOPES.items()),
                    },
                },
            'responses': {
                f'Problem{status}': {
                    'description': description,
                    'content': {problem.MEDIA_TYPE: {
                            'schema': {'$ref':
                                '#/components/schemas/Problem'}}},
                    }
                for status, description in ERROR_STATUSES.items()},
            },
        }
    # Tags appear once each.
    seen, tags = set(), []
    for tag in document['tags']:
        if tag['name'] not in seen:
            seen.add(tag['name'])
            tags.append(tag)
    document['tags'] = tags
    return document
