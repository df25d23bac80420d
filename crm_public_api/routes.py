"HTTP routes of the public API, its OpenAPI document and its docs page"
import json
import mimetypes
import os

import swagger_ui_bundle
from werkzeug.security import safe_join
from werkzeug.utils import redirect
from werkzeug.wrappers import Response

from trytond.pool import Pool
from trytond.wsgi import app

from . import crud, openapi, ratelimit, router
from .problem import NotFound
from .schema import DateTime

SWAGGER_UI = next(
    os.path.join(root, name)
    for root in [os.path.join(
            os.path.dirname(swagger_ui_bundle.__file__), 'vendor')]
    for name in sorted(os.listdir(root)) if name.startswith('swagger-ui'))
STATIC = os.path.join(os.path.dirname(__file__), 'static')

router.SCHEMAS['Me'] = {
    'type': 'object',
    'required': ['name', 'prefix', 'scopes', 'expires_at', 'user'],
    'properties': {
        'name': {'type': 'string'},
        'prefix': {'type': 'string',
            'description': "Start of the key, shown to recognise it"},
        'scopes': {'type': 'array', 'items': {'type': 'string'}},
        'expires_at': {'type': ['string', 'null'], 'format': 'date-time'},
        'rate_limit': {'type': 'integer',
            'description': "Requests per minute"},
        'user': {
            'type': 'object',
            'required': ['id', 'login', 'name'],
            'properties': {
                'id': {'type': 'integer'},
                'login': {'type': 'string'},
                'name': {'type': 'string'},
                },
            },
        },
    }


def me(request, caller, **kwargs):
    User = Pool().get('res.user')
    user = User(caller.user_id)
    return router.json_response({
            'name': caller.name,
            'prefix': caller.prefix,
            'scopes': sorted(caller.scopes),
            'expires_at': DateTime('expires_at', description='').dump(
                caller.expires_at),
            'rate_limit': caller.rate_limit or ratelimit.default_limit(),
            'user': {
                'id': user.id, 'login': user.login, 'name': user.name},
            })


crud.register_all()
router.register(router.Operation(
        'GET', '/me', me, operation_id='get_me',
        summary="Describe the calling API key", tag='Authentication',
        description="Zapier and other clients test a connection with it.",
        scope='',
        responses={200: ("The key and its user",
                {'$ref': '#/components/schemas/Me'})}))


@app.route(router.BASE + '/openapi.json', methods=None)
def openapi_document(request):
    if request.method not in {'GET', 'HEAD'}:
        return router.dispatch(request, {'GET': None}, {})
    document = openapi.build(request.host_url)
    return Response(
        json.dumps(document), mimetype='application/json',
        headers={'Cache-Control': 'no-cache'})


@app.route(router.BASE + '/docs', methods=None)
def docs_page(request):
    if request.method not in {'GET', 'HEAD'}:
        return router.dispatch(request, {'GET': None}, {})
    with open(os.path.join(STATIC, 'docs.html'), encoding='utf-8') as page:
        return Response(page.read(), mimetype='text/html')


@app.route(router.BASE + '/docs/', methods=None)
def docs_page_slash(request):
    # The page loads its files by paths relative to /docs, which a trailing
    # slash would break.
    location = router.BASE + '/docs'
    if request.query_string:
        location += '?' + request.query_string.decode('latin-1')
    return redirect(location, 308)


@app.route(router.BASE + '/docs/<path:filename>', methods=None)
def docs_asset(request, filename):
    "Serve the page's own files, then Swagger UI's, from this server"
    for root in (STATIC, SWAGGER_UI):
        path = safe_join(root, filename)
        if path and os.path.isfile(path):
            break
    else:
        return router.dispatch(
            request, {'GET': _not_found(filename)}, {})
    mimetype = mimetypes.guess_type(path)[0] or 'application/octet-stream'
    with open(path, 'rb') as content:
        return Response(
            content.read(), mimetype=mimetype,
            headers={'Cache-Control': 'public, max-age=3600'})


def _not_found(filename):
    def handler(request, **kwargs):
        raise NotFound(f"No documentation file {filename!r}.")
    return router.Operation(
        'GET', '', handler, operation_id='', summary='', tag='')
