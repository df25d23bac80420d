"""Attribute types of the public API.

Each attribute of a resource is declared once with one of these types, and
that one declaration validates request bodies and query parameters,
converts between JSON and Tryton values, and writes the attribute's JSON
Schema into the OpenAPI document.
"""
import datetime as dt
import decimal
import re

OPERATORS = {
    'eq': '=',
    'ne': '!=',
    'lt': '<',
    'lte': '<=',
    'gt': '>',
    'gte': '>=',
    'in': 'in',
    'contains': 'ilike',
    }
ORDERED = ('eq', 'ne', 'lt', 'lte', 'gt', 'gte', 'in')

EMAIL = re.compile(r'^[^@\s]+@[^@\s]+\.[^@\s]+$')
DECIMAL = re.compile(r'^-?\d{1,15}(\.\d{1,6})?$')


class Attribute:
    json_type = 'string'
    operators = ('eq', 'ne', 'in')
    sortable = True

    def __init__(
            self, name, source=None, *, description, required=False,
            read_only=False, nullable=True, filterable=True, sortable=None,
            example=None):
        self.name = name
        self.source = source or name
        self.description = description
        self.required = required
        self.read_only = read_only
        self.nullable = nullable and not required
        self.filterable = filterable
        if sortable is not None:
            self.sortable = sortable
        self.example = example

    def dump(self, value):
        "Convert a Tryton value to its JSON form"
        return value

    def load(self, value):
        "Convert a JSON value to a Tryton value or raise ValueError"
        if value is None:
            if not self.nullable:
                raise ValueError("must not be null")
            return None
        return self.load_value(value)

    def load_value(self, value):
        return value

    def parse_query(self, text):
        "Convert a query parameter to a Tryton value or raise ValueError"
        return self.load_value(text)

    def value_schema(self):
        return {'type': self.json_type}

    def json_schema(self):
        schema = self.value_schema()
        if self.nullable:
            schema['type'] = [schema['type'], 'null']
            if 'enum' in schema:
                schema['enum'] = schema['enum'] + [None]
        schema['description'] = self.description
        if self.read_only:
            schema['readOnly'] = True
        if self.example is not None:
            schema['examples'] = [self.example]
        return schema


class String(Attribute):
    operators = ('eq', 'ne', 'in', 'contains')

    def __init__(self, name, source=None, *, max_length=255, format=None,
            **kwargs):
        super().__init__(name, source, **kwargs)
        self.max_length = max_length
        self.format = format

    def dump(self, value):
        # Tryton returns '' for an empty function field.
        return value or None

    def load_value(self, value):
        if not isinstance(value, str):
            raise ValueError("must be a string")
        if '\x00' in value:
            raise ValueError("must not contain NUL characters")
        if self.max_length and len(value) > self.max_length:
            raise ValueError(
                f"must be at most {self.max_length} characters")
        if self.format == 'email' and value and not EMAIL.match(value):
            raise ValueError("must be an email address")
        if self.required and not value.strip():
            raise ValueError("must not be empty")
        return value

    def value_schema(self):
        schema = {'type': 'string'}
        if self.max_length:
            schema['maxLength'] = self.max_length
        if self.format == 'email':
            # A pattern, not "format": validators disagree on what an
            # email "format" admits, and this is the rule the API applies.
            schema['pattern'] = EMAIL.pattern
        if self.required:
            schema['minLength'] = 1
            schema['pattern'] = r'\S'
        return schema


class Text(String):
    operators = ('contains',)
    sortable = False

    def __init__(self, name, source=None, **kwargs):
        super().__init__(name, source, max_length=65535, **kwargs)


class Integer(Attribute):
    json_type = 'integer'
    operators = ORDERED
    minimum = -(2 ** 31)
    maximum = 2 ** 31 - 1

    def load_value(self, value):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("must be an integer")
        if not self.minimum <= value <= self.maximum:
            raise ValueError(
                f"must be between {self.minimum} and {self.maximum}")
        return value

    def parse_query(self, text):
        if not re.fullmatch(r'-?\d{1,10}', text):
            raise ValueError("must be an integer")
        return self.load_value(int(text))

    def value_schema(self):
        return {
            'type': 'integer',
            'minimum': self.minimum,
            'maximum': self.maximum,
            }


class Id(Integer):
    minimum = 1

    def __init__(self, name='id', source='id', **kwargs):
        kwargs.setdefault('description', "Unique identifier")
        super().__init__(
            name, source, read_only=True, nullable=False, **kwargs)


class Reference(Integer):
    "Id of a record of another resource"
    minimum = 1
    sortable = False

    def __init__(self, name, source, *, resource, **kwargs):
        super().__init__(name, source, **kwargs)
        self.resource = resource

    def dump(self, value):
        return value if value is not None and value >= 0 else None


class Decimal(Attribute):
    "Exact amount, written as a decimal string so no float rounds it"
    operators = ORDERED

    def dump(self, value):
        if value is None:
            return None
        # At least cents, as money is written: 4500 reads "4500.00".
        if value.as_tuple().exponent > -2:
            value = value.quantize(decimal.Decimal('0.01'))
        return str(value)

    def load_value(self, value):
        if not isinstance(value, str) or not DECIMAL.match(value):
            raise ValueError(
                "must be a decimal string such as \"1250.00\"")
        return decimal.Decimal(value)

    def value_schema(self):
        return {'type': 'string', 'pattern': DECIMAL.pattern}


class Probability(Attribute):
    json_type = 'number'
    operators = ORDERED

    def load_value(self, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError("must be a number")
        if not 0 <= value <= 1:
            raise ValueError("must be between 0 and 1")
        return float(value)

    def parse_query(self, text):
        try:
            value = float(text)
        except ValueError:
            raise ValueError("must be a number") from None
        return self.load_value(value)

    def value_schema(self):
        return {'type': 'number', 'minimum': 0, 'maximum': 1}


class Boolean(Attribute):
    json_type = 'boolean'
    operators = ('eq', 'ne')

    def dump(self, value):
        # SQLite returns 0 and 1.
        return None if value is None else bool(value)

    def load_value(self, value):
        if not isinstance(value, bool):
            raise ValueError("must be true or false")
        return value

    def parse_query(self, text):
        if text not in {'true', 'false'}:
            raise ValueError("must be true or false")
        return text == 'true'


class Enum(Attribute):
    def __init__(self, name, source=None, *, choices, **kwargs):
        super().__init__(name, source, **kwargs)
        self.choices = list(choices)

    def load_value(self, value):
        if value not in self.choices:
            raise ValueError("must be one of: " + ', '.join(self.choices))
        return value

    def value_schema(self):
        return {'type': 'string', 'enum': list(self.choices)}


class Date(Attribute):
    operators = ORDERED

    def dump(self, value):
        return None if value is None else value.isoformat()

    def load_value(self, value):
        if (not isinstance(value, str)
                or not re.fullmatch(r'\d{4}-\d{2}-\d{2}', value)):
            raise ValueError("must be a date as YYYY-MM-DD")
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a valid date") from None

    def value_schema(self):
        return {'type': 'string', 'format': 'date'}


TIMESTAMP = re.compile(
    r'\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?'
    r'([Zz]|[+-]\d{2}:\d{2})')


class DateTime(Attribute):
    "RFC 3339 timestamp, stored and returned in UTC"
    operators = ORDERED

    def dump(self, value):
        if value is None:
            return None
        text = value.replace(tzinfo=None).isoformat(
            timespec='microseconds' if value.microsecond else 'seconds')
        return text + 'Z'

    def load_value(self, value):
        if not isinstance(value, str) or not TIMESTAMP.fullmatch(value):
            raise ValueError(
                "must be an RFC 3339 timestamp such as "
                "2026-01-31T09:30:00Z")
        try:
            parsed = dt.datetime.fromisoformat(
                value.upper().replace('Z', '+00:00'))
        except ValueError:
            raise ValueError(f"{value!r} is not a valid timestamp") from None
        if not dt.MINYEAR < parsed.year < dt.MAXYEAR:
            raise ValueError(f"{value!r} is out of range")
        return parsed.astimezone(dt.timezone.utc).replace(tzinfo=None)

    def value_schema(self):
        return {'type': 'string', 'format': 'date-time'}
