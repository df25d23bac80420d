"""API key format, checksum and storage hash.

A key is ``crm_`` + 30 random base62 characters (178 bits) + 6 base62
characters of the CRC32 of what precedes them.  GitHub uses the same
scheme so that secret scanners can recognise a key, and a mistyped key is
rejected without a database look-up.  The first 8 random characters, with the ``crm_`` in
front, are the key's prefix: it is stored in clear to show the key in
lists and to find its record.  The whole key is stored only as
HMAC-SHA256 under a server secret, so a copy of the database alone gives
no usable key.
"""
import hashlib
import hmac
import re
import secrets
import string
import zlib

PREFIX = 'crm_'
ALPHABET = string.digits + string.ascii_letters
RANDOM_LENGTH = 30
CHECKSUM_LENGTH = 6
DISPLAY_LENGTH = len(PREFIX) + 8
KEY_LENGTH = len(PREFIX) + RANDOM_LENGTH + CHECKSUM_LENGTH


# A key, or a mistyped one, inside other text such as a logged URL
KEY_IN_TEXT = re.compile(
    '(%s[%s]{%d})[%s]+' % (
        PREFIX, ALPHABET, DISPLAY_LENGTH - len(PREFIX), ALPHABET))


class MalformedKey(ValueError):
    pass


def encode_base62(number, length):
    digits = []
    for _ in range(length):
        number, remainder = divmod(number, len(ALPHABET))
        digits.append(ALPHABET[remainder])
    return ''.join(reversed(digits))


def checksum(body):
    return encode_base62(zlib.crc32(body.encode('ascii')), CHECKSUM_LENGTH)


def generate_key():
    body = PREFIX + ''.join(
        secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH))
    return body + checksum(body)


def check_format(key):
    "Return the key's display prefix or raise MalformedKey"
    if (not isinstance(key, str)
            or len(key) != KEY_LENGTH
            or not key.startswith(PREFIX)
            or not all(c in ALPHABET for c in key[len(PREFIX):])):
        raise MalformedKey("not a CRM API key")
    body, check = key[:-CHECKSUM_LENGTH], key[-CHECKSUM_LENGTH:]
    if not hmac.compare_digest(checksum(body), check):
        raise MalformedKey("API key checksum mismatch")
    return key[:DISPLAY_LENGTH]


def hash_key(key, secret):
    return hmac.new(
        secret.encode('utf-8'), key.encode('ascii'), hashlib.sha256
        ).hexdigest()


def verify_key(key, secret, key_hash):
    return hmac.compare_digest(hash_key(key, secret), key_hash)


def redact(text):
    "Return text with every key in it cut to its display prefix"
    return KEY_IN_TEXT.sub(r'\1[redacted]', text)
