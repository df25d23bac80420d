"""Errors of the public API, returned as RFC 9457 problem details.

Every 4xx and 5xx under the base path is built here, so that clients meet
one shape: ``type``, ``title``, ``status``, ``detail`` and, for invalid
input, ``errors`` with one entry per offending field or parameter.
"""
import json

from werkzeug.wrappers import Response

MEDIA_TYPE = 'application/problem+json'
# Problem types are URNs: stable identifiers that need no web page.
TYPE_BASE = 'urn:crm:problem:'

TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
    }


class ApiError(Exception):
    status = 400
    slug = 'bad-request'

    def __init__(self, detail, errors=None, headers=None):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.headers = headers or {}

    def to_dict(self):
        problem = {
            'type': TYPE_BASE + self.slug,
            'title': TITLES[self.status],
            'status': self.status,
            'detail': self.detail,
            }
        if self.errors:
            problem['errors'] = self.errors
        return problem


class InvalidRequest(ApiError):
    "Parameters or body that do not fit the operation's definition"
    status = 400
    slug = 'invalid-request'


class InvalidReference(InvalidRequest):
    "Ids or codes in the request that name no record"
    slug = 'invalid-reference'


class InvalidCursor(InvalidRequest):
    "A cursor that this API did not issue for the same sort and filters"
    slug = 'invalid-cursor'


class Unauthenticated(ApiError):
    status = 401
    slug = 'unauthenticated'

    def __init__(self, detail):
        super().__init__(detail, headers={
                'WWW-Authenticate': 'Bearer realm="crm"'})


class MissingScope(ApiError):
    status = 403
    slug = 'missing-scope'


class Forbidden(ApiError):
    status = 403
    slug = 'forbidden'


class NotFound(ApiError):
    status = 404
    slug = 'not-found'


class MethodNotAllowed(ApiError):
    status = 405
    slug = 'method-not-allowed'

    def __init__(self, method, allowed):
        super().__init__(
            f"{method} is not allowed here; use {', '.join(allowed)}",
            headers={'Allow': ', '.join(allowed)})


class Conflict(ApiError):
    status = 409
    slug = 'conflict'


class ContentTooLarge(ApiError):
    status = 413
    slug = 'content-too-large'


class UnsupportedMediaType(ApiError):
    status = 415
    slug = 'unsupported-media-type'


class Unprocessable(ApiError):
    "Well-formed input that the CRM's own rules reject"
    status = 422
    slug = 'unprocessable'


class UnusableURL(Unprocessable):
    "A URL that the server will not request: invalid, unresolved or blocked"
    slug = 'unusable-url'


class RateLimited(ApiError):
    status = 429
    slug = 'rate-limited'


class ServerError(ApiError):
    status = 500
    slug = 'internal-error'


class Unavailable(ApiError):
    status = 503
    slug = 'unavailable'


def field_error(name, message, location='body'):
    return {'field': name, 'in': location, 'message': message}


def response(error):
    body = json.dumps(error.to_dict())
    result = Response(body, status=error.status, mimetype=MEDIA_TYPE)
    for name, value in error.headers.items():
        result.headers[name] = value
    return result
