"""Dispatch of the public API: routing, authentication, rate limits and
transactions.

Every operation is registered here with its path, method, scope and
OpenAPI description; the OpenAPI document is generated from the same
registry.  One Werkzeug rule per path accepts every method, so that an
unknown method gets a problem document (405) like any other error.

A request runs in up to three transactions.  A read-only one
authenticates the key.  The operation's own runs as the key's user with
access checks on.  At most once a minute per key, a short one records
``last_used_at``.  The rate limit is counted between the first two, so a
database retry of the operation does not count the request twice.
"""
import json
import logging
import time

from werkzeug.exceptions import BadRequest
from werkzeug.routing import PathConverter
from werkzeug.wrappers import Response

from trytond import backend
from trytond import config
from trytond.exceptions import UserError, UserWarning
from trytond.model.exceptions import AccessError
from trytond.pool import Pool
from trytond.transaction import Transaction, TransactionError, check_access
from trytond.worker import run_task
from trytond.wsgi import app

from . import keys, problem, ratelimit, scopes
from .problem import ApiError

logger = logging.getLogger(__name__)


class RedactKeys(logging.Filter):
    "Cut API keys in log messages to their prefix"

    def filter(self, record):
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            # A handler reports a record whose message cannot be formatted.
            return True
        redacted = keys.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


# The request lines that Werkzeug and Tryton log show the query string,
# where a client may put its key by mistake.
for logger_name in ('werkzeug', 'trytond.wsgi'):
    logging.getLogger(logger_name).addFilter(RedactKeys())

BASE = '/api/v1/crm'
MAX_BODY = 1024 * 1024
OPERATIONS = []
# OpenAPI component schemas of operations outside the CRM resources
SCHEMAS = {}
_paths = {}


class Operation:
    def __init__(self, method, path, handler, *, operation_id, summary,
            tag, scope=None, request_schema=None, responses=None,
            parameters=(), description=None, problems=()):
        self.method = method
        self.path = path
        self.handler = handler
        self.operation_id = operation_id
        self.summary = summary
        self.description = description
        self.tag = tag
        self.scope = scope
        self.request_schema = request_schema
        self.responses = responses or {}
        self.parameters = list(parameters)
        # Statuses of problems beyond those every operation of its kind has
        self.problems = list(problems)

    @property
    def readonly(self):
        return self.method in {'GET', 'HEAD'}


class Caller:
    "The authenticated API key of a request"

    def __init__(self, api_key):
        self.key_id = api_key.id
        self.name = api_key.name
        self.prefix = api_key.prefix
        # The user's id is in the key's row; its login would cost a read.
        self.user_id = api_key.user.id
        self.scopes = api_key.scope_set
        self.expires_at = api_key.expires_at
        self.rate_limit = api_key.rate_limit
        self.needs_touch = api_key.needs_touch()


def register(operation):
    "Add an operation and, for a new path, its Werkzeug rule"
    OPERATIONS.append(operation)
    rule = BASE + operation.path.replace('{', '<').replace('}', '>')
    for name in ('id',):
        rule = rule.replace(f'<{name}>', f'<int:{name}>')
    if rule not in _paths:
        _paths[rule] = {}
        app.route(rule, methods=None)(_endpoint(rule))
    _paths[rule][operation.method] = operation
    return operation


def _endpoint(rule):
    def endpoint(request, **path_args):
        return dispatch(request, _paths[rule], path_args)
    endpoint.__name__ = 'crm_api_' + rule.replace('/', '_')
    return endpoint


def dispatch(request, operations, path_args):
    started = time.monotonic()
    # The rate limit headers of the request once its key is counted: every
    # response after that shows the key's budget, errors included.
    budget = {}
    try:
        operation = operations.get(request.method)
        if operation is None and request.method == 'HEAD':
            operation = operations.get('GET')
        if operation is None:
            raise problem.MethodNotAllowed(request.method, sorted(operations))
        response = run(request, operation, path_args, budget)
    except ApiError as error:
        response = problem.response(error)
    except Exception:
        logger.exception("%s %s failed", request.method, request.path)
        response = problem.response(problem.ServerError(
                "The server failed to process the request; "
                "it has been logged."))
    for header, value in budget.items():
        response.headers.setdefault(header, value)
    response.headers.setdefault('Cache-Control', 'no-store')
    logger.debug(
        "%s %s: %s in %.1f ms", request.method, request.path,
        response.status_code, (time.monotonic() - started) * 1000)
    return response


def database_name():
    name = config.get('crm_api', 'database', default=None)
    if not name:
        raise problem.Unavailable(
            "The API has no database configured; set \"database\" in the "
            "\"crm_api\" section or TRYTOND_CRM_API__DATABASE.")
    return name


def get_pool(name):
    pool = Pool(name)
    if name not in Pool.database_list():
        with Transaction().start(name, 0, readonly=True):
            pool.init()
    return pool


def run(request, operation, path_args, budget):
    "Authenticate, count and run the operation; fill budget when counted"
    name = database_name()
    pool = get_pool(name)
    caller = None
    if operation.scope is not None:
        caller = authenticate(pool, name, request)
        decision = ratelimit.limiter().hit(
            name, caller.key_id,
            caller.rate_limit or ratelimit.default_limit())
        budget.update(decision.headers)
        if not decision.allowed:
            raise problem.RateLimited(
                f"The rate limit of {decision.limit} requests per minute "
                "for this API key is used up; retry after "
                f"{decision.reset} s.",
                headers={**decision.headers,
                    'Retry-After': str(max(1, decision.reset))})
        if operation.scope and not scopes.grants(
                caller.scopes, operation.scope):
            raise problem.MissingScope(
                f"This API key lacks the scope {operation.scope!r}.")

    try:
        return execute(pool, name, request, operation, path_args, caller)
    finally:
        if caller and caller.needs_touch:
            touch(name, caller.key_id)


def bearer_token(request):
    "Return the token of a Bearer Authorization header or raise 401"
    header = request.headers.get('Authorization')
    if not header:
        raise problem.Unauthenticated(
            "Authentication is required: send \"Authorization: Bearer "
            "<API key>\".")
    scheme, _, token = header.strip().partition(' ')
    token = token.strip()
    if scheme.lower() != 'bearer' or not token or ' ' in token:
        raise problem.Unauthenticated(
            "The Authorization header must be \"Bearer <API key>\".")
    return token


def authenticate(pool, name, request):
    token = bearer_token(request)
    with Transaction().start(name, 0, readonly=True):
        ApiKey = pool.get('crm.api_key')
        try:
            api_key = ApiKey.authenticate(token)
        except UserError as exception:
            raise problem.Unavailable(exception.message) from exception
        if api_key is None:
            raise problem.Unauthenticated(
                "The API key is invalid, expired or revoked.")
        return Caller(api_key)


def touch(name, key_id):
    try:
        with Transaction().start(name, 0) as transaction:
            ApiKey = Pool().get('crm.api_key')
            ApiKey(key_id).touch()
            transaction.commit()
    except backend.DatabaseOperationalError:
        # Another request of the same key updated it at the same moment.
        logger.debug("last use of API key %s not recorded", key_id)


def execute(pool, name, request, operation, path_args, caller):
    "Run the operation's handler in its transaction, with retries"
    readonly = operation.readonly
    body = read_body(request) if operation.request_schema else None
    retries = config.getint('database', 'retry')
    attempt, extras = 0, {}
    while True:
        if attempt:
            time.sleep(0.02 * attempt)
        user = caller.user_id if caller else 0
        with Transaction().start(
                name, user, readonly=readonly, **extras) as transaction:
            try:
                with transaction.set_context(user_context(pool, user)):
                    with check_access():
                        response = operation.handler(
                            request, caller=caller, body=body, **path_args)
            except TransactionError as exception:
                transaction.rollback()
                transaction.tasks.clear()
                exception.fix(extras)
                continue
            except backend.DatabaseOperationalError:
                if attempt < retries and not readonly:
                    transaction.rollback()
                    transaction.tasks.clear()
                    attempt += 1
                    continue
                raise problem.Unavailable(
                    "The database is busy; retry the request.") from None
            except AccessError as exception:
                raise problem.Forbidden(exception.message) from exception
            except (UserError, UserWarning) as exception:
                raise problem.Unprocessable(
                    exception.message) from exception
            transaction.commit()
        # Without a worker, queued tasks run here, after the commit.
        while transaction.tasks:
            run_task(pool, transaction.tasks.pop())
        return response


def user_context(pool, user):
    if not user:
        return {}
    User = pool.get('res.user')
    return User.get_api_context()


def read_body(request):
    "Return the JSON body of a request or raise a problem"
    if request.content_length and request.content_length > MAX_BODY:
        raise problem.ContentTooLarge(
            f"The request body exceeds {MAX_BODY} bytes.")
    mimetype = request.mimetype
    if mimetype != 'application/json' and not (
            mimetype.startswith('application/')
            and mimetype.endswith('+json')):
        raise problem.UnsupportedMediaType(
            "The request body must be JSON with \"Content-Type: "
            "application/json\".")
    try:
        data = request.get_data(cache=True)
    except BadRequest:
        # Werkzeug raises it for a chunked body that is cut short or that
        # has a malformed chunk size.
        raise problem.InvalidRequest(
            "The request body could not be read: it ends early or its "
            "chunked encoding is malformed.") from None
    if len(data) > MAX_BODY:
        raise problem.ContentTooLarge(
            f"The request body exceeds {MAX_BODY} bytes.")
    try:
        return json.loads(data.decode('utf-8'))
    except (UnicodeDecodeError, ValueError) as exception:
        raise problem.InvalidRequest(
            f"The request body is not valid JSON: {exception}.") from None
    except RecursionError:
        raise problem.InvalidRequest(
            "The request body nests arrays or objects too deeply.") from None


def json_response(data, status=200, headers=None):
    response = Response(
        json.dumps(data), status=status, mimetype='application/json')
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


class AnyPathConverter(PathConverter):
    "Path converter that also matches line breaks, which path's . misses"
    regex = '(?s:[^/].*?)'


app.url_map.converters['crm_any_path'] = AnyPathConverter


@app.route(BASE, methods=None)
@app.route(BASE + '/', methods=None)
@app.route(BASE + '/<crm_any_path:rest>', methods=None)
def unknown(request, rest=''):
    return problem.response(problem.NotFound(
            f"No API route matches {request.path}; the operations are "
            f"listed in {BASE}/openapi.json."))
