"List parameters: limit, cursor, sort and filters"
import datetime as dt
import decimal
import re

from sql import Column, Null

from trytond.model import fields
from trytond.pool import Pool
from trytond.tools import is_instance_method

from . import cursor as cursors
from .problem import InvalidCursor, InvalidRequest, field_error
from .schema import OPERATORS

DEFAULT_LIMIT = 25
MAX_LIMIT = 100
RESERVED = {'limit', 'cursor', 'sort'}
# OpenAPI parameters of every paged list
PAGE_PARAMETERS = [
    {'name': 'limit', 'in': 'query', 'required': False,
        'description': "Records per page",
        'schema': {'type': 'integer', 'minimum': 1,
            'maximum': MAX_LIMIT, 'default': DEFAULT_LIMIT}},
    {'name': 'cursor', 'in': 'query', 'required': False,
        'description': "next_cursor of the previous page",
        'schema': {'type': 'string', 'maxLength': 2048}},
    ]
FILTER = re.compile(r'^([a-z_]+)(?:\[([a-z]+)\])?$')
MAX_IN_VALUES = 100


class ListQuery:
    def __init__(self, limit, keys, domain, digest, position, ranks=None,
            context=None, blanks=None):
        self.limit = limit
        self.keys = keys
        self.domain = domain
        self.digest = digest
        self.position = position
        # Value orders of the sort keys that cursors compare by rank
        self.ranks = ranks or {}
        # Tryton context of the search
        self.context = context or {}
        # Clauses that tell NULL from '' in optional text sort keys
        self.blanks = blanks or {}

    @property
    def order(self):
        order = [(f, 'DESC NULLS LAST' if d else 'ASC NULLS FIRST')
            for f, d in self.keys]
        return order + [('id', 'ASC')]

    def search_domain(self):
        if self.position is None:
            return self.domain
        values, record_id = self.position
        return self.domain + [
            cursors.after_domain(
                self.keys, values, record_id, self.ranks, self.blanks)]

    def next_cursor(self, row):
        "Return the cursor that continues after the Tryton row"
        values = [self.cursor_value(row[f]) for f, _ in self.keys]
        return cursors.encode(values, row['id'], self.digest)

    @staticmethod
    def cursor_value(value):
        if value is None or isinstance(value, (bool, int, str)):
            return value
        if isinstance(value, float):
            return value
        return {'t': type(value).__name__, 'v': str(value)}


def _restore(value):
    "Return the Tryton value of a sort value stored in a cursor"
    if isinstance(value, dict):
        kind, text = value.get('t'), value.get('v')
        if not isinstance(text, str):
            raise ValueError
        if kind == 'datetime':
            return dt.datetime.fromisoformat(text)
        if kind == 'date':
            return dt.date.fromisoformat(text)
        if kind == 'Decimal':
            return decimal.Decimal(text)
        raise ValueError
    if isinstance(value, list):
        raise ValueError
    return value


def parse(resource, args):
    "Build a ListQuery from the query string or raise InvalidRequest"
    errors = []
    limit = _parse_limit(args, errors)
    keys, sort_text = _parse_sort(resource, args, errors)
    domain, filters = _parse_filters(resource, args, errors)
    if errors:
        raise InvalidRequest("The query parameters are invalid.", errors)

    digest = cursors.query_digest(sort_text, filters)
    ranks = _sort_ranks(resource, keys)
    position = None
    if args.get('cursor'):
        try:
            values, record_id = cursors.decode(
                args['cursor'], digest, len(keys))
            values = [_restore(v) for v in values]
            for (name, _), value in zip(keys, values):
                if name in ranks and value not in ranks[name]:
                    raise ValueError(f"invalid value {value!r} of {name}")
        except cursors.InvalidCursor as exception:
            raise InvalidCursor(
                f"The cursor {exception}.",
                [field_error('cursor', str(exception), 'query')]) from None
        except (ValueError, TypeError):
            raise InvalidCursor(
                "The cursor is not a cursor returned by this API.",
                [field_error('cursor', "is invalid", 'query')]) from None
        position = values, record_id
    return ListQuery(
        limit, keys, domain, digest, position, ranks,
        _substring_context(resource, filters),
        _blank_clauses(resource, keys))


def _sort_ranks(resource, keys):
    """Return the value order of each sort key on a boolean or selection
    field, for cursors to compare by rank (see cursors.after_domain)"""
    Model = Pool().get(resource.model)
    ranks = {}
    for name, _ in keys:
        field = Model._fields.get(name)
        if isinstance(field, fields.Boolean):
            ranks[name] = [None, False, True]
        elif isinstance(field, fields.Selection):
            order = _selection_order(Model, name)
            if order is not None:
                ranks[name] = order
    return ranks


def _blank_clauses(resource, keys):
    """Return, for each sort key on an optional Char column, the clauses
    that cursors.after_domain needs to tell NULL from ''"""
    # Tryton compares such a column as COALESCE(column, ''), so only a
    # query on the column itself can split the two, which the database
    # sorts apart.
    # NOTE: the API shows '' as null too, yet such records follow those
    # with NULL instead of mixing with them in id order.
    Model = Pool().get(resource.model)
    table = Model.__table__()
    blanks = {}
    for name, _ in keys:
        field = Model._fields.get(name)
        if (not isinstance(field, fields.Char) or field.required
                or getattr(field, 'translate', False)):
            continue
        column = Column(table, name)
        blanks[name] = {
            None: ('id', 'in', table.select(table.id, where=column == Null)),
            '': ('id', 'in', table.select(table.id, where=column == '')),
            'set': ('id', 'in', table.select(
                    table.id, where=column != Null)),
            }
    return blanks


def _selection_order(Model, name):
    """Return the values of a selection field, None included, as Tryton
    sorts them: by label, or by position when the field sets sort=False
    (the stage of a deal)"""
    # The same steps as trytond's Selection.convert_order (8.0).
    definition = Model.fields_get([name])[name]
    selection = definition['selection']
    if isinstance(selection, str):
        if is_instance_method(Model, selection):
            # Tryton sorts such a field by its stored value.
            return None
        selection = getattr(Model, selection)()
    values = [value for value, _ in selection if value is not None]
    if not definition['sort']:
        # The position in the selection; NULL comes after every value.
        return values + [None]
    # NOTE: Python sorts the labels by code point and the database by its
    # collation. Both agree on labels such as the activity types, which
    # are ASCII words that start with a capital, but may not on others.
    labels = dict(selection)
    return [None] + sorted(values, key=lambda value: labels[value])


def _substring_context(resource, filters):
    "Return the Tryton context that matches contains filters as substrings"
    # Tryton 8.0 runs ilike on a Text field (notes) as a full-text search,
    # and on any field as a trigram similarity when the context sets a
    # threshold. Both find whole words but not every substring.
    context = {}
    for name, operator, _ in filters:
        if operator == 'contains':
            field = f'{resource.model}.{resource.attributes[name].source}'
            context[f'{field}.search_full_text'] = False
            context[f'{field}.search_similarity'] = None
    return context


def _parse_limit(args, errors):
    text = args.get('limit')
    if text is None:
        return DEFAULT_LIMIT
    if not re.fullmatch(r'[0-9]{1,4}', text) \
            or not 1 <= int(text) <= MAX_LIMIT:
        errors.append(field_error(
                'limit', f"must be an integer from 1 to {MAX_LIMIT}",
                'query'))
        return DEFAULT_LIMIT
    return int(text)


def _parse_sort(resource, args, errors):
    text = args.get('sort', '')
    keys, seen, applied, unique = [], set(), set(), False
    for item in text.split(',') if text else []:
        descending = item.startswith('-')
        name = item[1:] if descending else item
        attribute = resource.attributes.get(name)
        if attribute is None or not attribute.sortable:
            sortable = [a.name for a in resource.attributes.values()
                if a.sortable]
            errors.append(field_error(
                    'sort', f"cannot sort by {name!r}; sortable fields: "
                    + ', '.join(sortable), 'query'))
            continue
        if item in seen:
            errors.append(field_error(
                    'sort', f"{item!r} is given twice", 'query'))
            continue
        seen.add(item)
        if name == 'id':
            # The id is the final tie-break already; a descending id
            # would contradict it.
            if descending:
                errors.append(field_error(
                        'sort', "sort by -id is not supported; the id is "
                        "always the final ascending tie-break", 'query'))
            unique = True
            continue
        # After the id, or after the same field in the other direction, a
        # key cannot change the order, so it is checked but not applied.
        if not unique and name not in applied:
            applied.add(name)
            keys.append((attribute.source, descending))
    return keys, text


def _parse_filters(resource, args, errors):
    domain, filters = [], []
    for key in sorted(set(args.keys()) - RESERVED):
        values = args.getlist(key)
        match = FILTER.match(key)
        attribute = resource.attributes.get(match.group(1)) if match else None
        if attribute is None or not attribute.filterable:
            errors.append(field_error(
                    key, "unknown query parameter; filterable fields: "
                    + ', '.join(a.name for a in resource.attributes.values()
                        if a.filterable), 'query'))
            continue
        operator = match.group(2) or 'eq'
        if operator not in attribute.operators:
            errors.append(field_error(
                    key, f"operator {operator!r} is not supported for "
                    f"{attribute.name}; use one of: "
                    + ', '.join(attribute.operators), 'query'))
            continue
        if len(values) > 1:
            errors.append(field_error(key, "is given more than once", 'query'))
            continue
        try:
            value = _parse_value(attribute, operator, values[0])
        except ValueError as exception:
            errors.append(field_error(key, str(exception), 'query'))
            continue
        filters.append((attribute.name, operator, values[0]))
        clause_operator = OPERATORS[operator]
        if hasattr(attribute, 'query_clause'):
            domain.append(attribute.query_clause(clause_operator, value))
        else:
            domain.append((attribute.source, clause_operator, value))
    return domain, filters


def _parse_value(attribute, operator, text):
    if operator == 'in':
        items = text.split(',')
        if len(items) > MAX_IN_VALUES:
            raise ValueError(f"takes at most {MAX_IN_VALUES} values")
        return [attribute.parse_query(item) for item in items]
    if operator == 'contains':
        attribute.parse_substring(text)
        escaped = (text.replace('\\', '\\\\').replace('%', '\\%')
            .replace('_', '\\_'))
        return f'%{escaped}%'
    return attribute.parse_query(text)
