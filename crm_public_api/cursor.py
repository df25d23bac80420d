"""Keyset cursors for list walks.

A cursor carries the sort values and id of the last record of a page, so
the next page starts strictly after that record in the sort order, with
the id as the final tie-break.  Unlike an offset, this neither skips nor
repeats a record when others are inserted or deleted during the walk.  A
record whose own sort value changes mid-walk may move before or after the
cursor, as with any keyset scheme.  NULL sorts before every value, so a
descending walk meets NULLs last.

The cursor is base64url of a small JSON document that also records a
digest of the sort and filters, so it cannot be replayed with others.
"""
import base64
import binascii
import hashlib
import json


class InvalidCursor(ValueError):
    pass


def query_digest(sort, filters):
    text = json.dumps([sort, sorted(filters)], separators=(',', ':'))
    return hashlib.sha256(text.encode('utf-8')).hexdigest()[:16]


def encode(values, record_id, digest):
    document = {'v': values, 'id': record_id, 'q': digest}
    text = json.dumps(document, separators=(',', ':'))
    return base64.urlsafe_b64encode(text.encode('utf-8')).decode().rstrip('=')


def decode(cursor, digest, length):
    "Return the sort values and id of a cursor or raise InvalidCursor"
    if len(cursor) > 2048:
        raise InvalidCursor("is too long")
    try:
        padded = cursor + '=' * (-len(cursor) % 4)
        document = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeError):
        raise InvalidCursor("is not a cursor returned by this API") from None
    if not isinstance(document, dict):
        raise InvalidCursor("is not a cursor returned by this API")
    # The digest goes first: another sort also has another number of
    # values, and the caller should hear that the sort is what differs.
    if document.get('q') != digest:
        raise InvalidCursor(
            "was returned for another sort or filter; "
            "repeat the same sort and filters, or start without a cursor")
    if (not isinstance(document.get('v'), list)
            or len(document['v']) != length
            or isinstance(document.get('id'), bool)
            or not isinstance(document.get('id'), int)):
        raise InvalidCursor("is not a cursor returned by this API")
    return document['v'], document['id']


def after_domain(keys, values, record_id, ranks=None, blanks=None):
    """Return the Tryton domain of records after the cursor position

    keys are (field, descending) pairs of the sort, without the id.  ranks
    maps a field of few values to all of them, None included, in ascending
    sort order.  Such a field is compared with "in", which Tryton
    translates exactly, where its "=" and "<" would not follow the sort: a
    selection sorts by label or position, and a boolean's "=" takes NULL
    for False.

    blanks maps a text field whose "=" takes NULL for '' (an optional
    Char of Tryton) to clauses that tell them apart, because the database
    sorts NULL before ''.  blanks[field][None] and blanks[field]['']
    match each exactly, and blanks[field]['set'] matches every non-NULL
    value."""
    ranks = ranks or {}
    blanks = blanks or {}
    if not keys:
        return [('id', '>', record_id)]
    (field, descending), value = keys[0], values[0]
    rest = after_domain(keys[1:], values[1:], record_id, ranks, blanks)
    if field in ranks:
        order = ranks[field]
        position = order.index(value)
        later = order[:position] if descending else order[position + 1:]
        return ['OR', [(field, 'in', later)], [(field, 'in', [value]), rest]]
    if field in blanks and value in (None, ''):
        return _after_blank(field, descending, value, rest, blanks[field])
    tie = [(field, '=', value), rest]
    if value is None:
        # NULL is the smallest value: ascending, every value comes after
        # it; descending, nothing does.
        if descending:
            return tie
        return ['OR', [(field, '!=', None)], tie]
    if descending:
        beyond = ['OR', [(field, '<', value)], [(field, '=', None)]]
    else:
        beyond = [(field, '>', value)]
    return ['OR', beyond, tie]


def _after_blank(field, descending, value, rest, clauses):
    "Return the domain after NULL or '' of a field listed in blanks"
    tie = [clauses[value], rest]
    if value is None:
        if descending:
            return tie
        beyond = [clauses['set']]
    elif descending:
        beyond = [clauses[None]]
    else:
        beyond = [(field, '>', '')]
    return ['OR', beyond, tie]
