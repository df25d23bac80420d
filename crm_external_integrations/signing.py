"""Signatures of webhook requests, as the Standard Webhooks specification
defines them.

A secret is ``whsec_`` followed by the base64 of random bytes, and those
bytes are the HMAC-SHA256 key.  The signed content is
``<webhook-id>.<webhook-timestamp>.<body>``, and the ``webhook-signature``
header lists ``v1,<base64 digest>`` once per secret, separated by spaces,
so that a receiver still holding the previous secret during a rotation can
verify the request.
"""
import base64
import binascii
import hashlib
import hmac
import secrets

SECRET_PREFIX = 'whsec_'
SECRET_BYTES = 32
# The specification requires 24 to 64 bytes of key.
MIN_SECRET_BYTES = 24
MAX_SECRET_BYTES = 64


def generate_secret():
    key = secrets.token_bytes(SECRET_BYTES)
    return SECRET_PREFIX + base64.b64encode(key).decode('ascii')


def secret_key(secret):
    "Return the HMAC key of a secret or raise ValueError"
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"a webhook secret starts with {SECRET_PREFIX!r}")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX):], validate=True)
    except binascii.Error as exception:
        raise ValueError("a webhook secret must be base64") from exception
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise ValueError(
            f"a webhook secret must hold {MIN_SECRET_BYTES} to "
            f"{MAX_SECRET_BYTES} bytes")
    return key


def sign(secret, message_id, timestamp, body):
    "Return the v1 signature of body, sent with message_id at timestamp"
    content = f'{message_id}.{timestamp}.'.encode('ascii') + body
    digest = hmac.new(secret_key(secret), content, hashlib.sha256).digest()
    return 'v1,' + base64.b64encode(digest).decode('ascii')


def headers(secrets_, message_id, timestamp, body):
    """Return the three Standard Webhooks headers of a request

    timestamp is in whole seconds since the epoch, and secrets_ lists the
    current secret first."""
    signatures = [sign(s, message_id, timestamp, body) for s in secrets_]
    return {
        'webhook-id': message_id,
        'webhook-timestamp': str(timestamp),
        'webhook-signature': ' '.join(signatures),
        }
