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

# The API checks values with fullmatch and the OpenAPI document anchors the
# same patterns with ^ and $.  Character classes are spelled out ([0-9],
# \uXXXX) because Python, ECMA 262 and Rust read \d and \s differently.
DECIMAL = re.compile(r'-?[0-9]{1,15}(\.[0-9]{1,2})?')
# Tryton strips what str.strip() strips from a Char before storing it, so
# a value made of these characters only is blank.  All of them are in the
# Basic Multilingual Plane, which char_class relies on.
WHITESPACE = ''.join(c for c in map(chr, range(0x10000)) if c.isspace())
# PostgreSQL cannot store NUL in text.
NUL = '\x00'


def char_class(characters, negated=False):
    "Return a regular expression class of the characters, one \\uXXXX each"
    ranges, start, end = [], None, None
    for code in sorted(set(map(ord, characters))):
        if start is not None and code == end + 1:
            end = code
            continue
        if start is not None:
            ranges.append((start, end))
        start = end = code
    ranges.append((start, end))
    text = ''.join(
        f'\\u{first:04x}' if first == last
        else f'\\u{first:04x}-\\u{last:04x}'
        for first, last in ranges)
    return f'[{"^" if negated else ""}{text}]'


def text_pattern(forbidden=''):
    "Return the pattern of strings without NUL or the forbidden characters"
    return char_class(NUL + forbidden, negated=True) + '*'


def not_blank_pattern(forbidden=''):
    "Return the pattern of strings with a character that is not whitespace"
    blank = ''.join(c for c in WHITESPACE if c not in forbidden)
    # Leading whitespace, the first other character, then anything: there
    # is one way to match, so the pattern never backtracks.
    return (
        char_class(blank) + '*'
        + char_class(NUL + WHITESPACE + forbidden, negated=True)
        + text_pattern(forbidden))


def email_pattern(forbidden=''):
    "Return the pattern of an email address, or of the empty string"
    part = char_class(NUL + WHITESPACE + '@' + forbidden, negated=True) + '+'
    return f'({part}@{part}\\.{part})?'


def is_unicode(text):
    "Tell whether a string has no unpaired surrogate, which UTF-8 rejects"
    try:
        text.encode('utf-8')
    except UnicodeEncodeError:
        return False
    return True


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

    def item_schema(self):
        "JSON Schema of one value of the comma separated in filter"
        return self.value_schema()

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
    "Text of a Tryton Char: one line, stored with surrounding spaces stripped"
    operators = ('eq', 'ne', 'in', 'contains')
    # The characters that Tryton 8.0 rejects in a Char.
    forbidden_chars = '\t\n\r\x0b\x0c'
    # Longer substrings could not match, and a long query string gets a 414
    # from the HTTP server.
    max_substring = 255

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
        check_text(value, self.max_length, self.forbidden_chars)
        if not re.fullmatch(self.pattern(), value):
            raise ValueError(self.pattern_message)
        return value

    @property
    def pattern_message(self):
        "Error message of a value that does not match the pattern"
        if self.format == 'email':
            return "must be an email address"
        return "must not be blank"

    def parse_substring(self, text):
        "Check the value of a contains filter and return it"
        if not text:
            raise ValueError("must not be empty")
        check_text(text, self.substring_length)
        return text

    @property
    def substring_length(self):
        return min(self.max_length or self.max_substring, self.max_substring)

    def pattern(self, forbidden=''):
        forbidden = self.forbidden_chars + forbidden
        if self.format == 'email':
            # A pattern, not "format": validators disagree on what an
            # email "format" admits, and this is the rule the API applies.
            return email_pattern(forbidden)
        if self.required:
            return not_blank_pattern(forbidden)
        return text_pattern(forbidden)

    def value_schema(self):
        schema = {'type': 'string', 'pattern': f'^{self.pattern()}$'}
        if self.max_length:
            schema['maxLength'] = self.max_length
        if self.required:
            schema['minLength'] = 1
        return schema

    def item_schema(self):
        # The in filter splits on commas, so no value of it has one.
        return {**self.value_schema(), 'pattern': f'^{self.pattern(",")}$'}

    def substring_schema(self):
        "JSON Schema of the value of the contains filter"
        return {
            'type': 'string', 'minLength': 1,
            'maxLength': self.substring_length,
            'pattern': f'^{text_pattern()}$'}


def check_text(value, max_length, forbidden=''):
    "Raise ValueError if a string cannot be stored or is too long"
    if NUL in value:
        raise ValueError("must not contain NUL characters")
    if not is_unicode(value):
        raise ValueError("must not contain unpaired surrogate characters")
    found = [c for c in forbidden if c in value]
    if found:
        raise ValueError(
            "must not contain " + ', '.join(map(repr, found)))
    if max_length and len(value) > max_length:
        raise ValueError(f"must be at most {max_length} characters")


class Text(String):
    "Text of a Tryton Text: several lines, any length up to the maximum"
    operators = ('contains',)
    sortable = False
    forbidden_chars = ''

    def __init__(self, name, source=None, **kwargs):
        super().__init__(name, source, max_length=65535, **kwargs)


class Integer(Attribute):
    json_type = 'integer'
    operators = ORDERED
    minimum = -(2 ** 31)
    maximum = 2 ** 31 - 1

    def load_value(self, value):
        # JSON Schema counts a number with a zero fraction, such as 3.0,
        # as an integer.
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("must be an integer")
        if not self.minimum <= value <= self.maximum:
            raise ValueError(
                f"must be between {self.minimum} and {self.maximum}")
        return value

    def parse_query(self, text):
        # As in a body, a zero fraction keeps the number an integer: 3.0.
        match = re.fullmatch(r'(-?[0-9]{1,10})(\.0+)?', text)
        if not match:
            raise ValueError("must be an integer")
        return self.load_value(int(match.group(1)))

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
        if not isinstance(value, str) or not DECIMAL.fullmatch(value):
            raise ValueError(
                "must be a decimal string with at most 2 decimal places "
                "such as \"1250.00\"")
        return decimal.Decimal(value)

    def value_schema(self):
        # NOTE: 2 decimal places suit the currencies the demo creates; a
        # currency with 3 cannot get its last digit through the API, and
        # Tryton rejects a fraction of a currency with none (422).
        return {'type': 'string', 'pattern': f'^{DECIMAL.pattern}$'}


class Probability(Attribute):
    "Number from 0 to 1, stored rounded to 4 decimal places as Tryton's"
    json_type = 'number'
    operators = ORDERED
    digits = 4

    def load_value(self, value):
        return round(self.check(value), self.digits)

    def parse_query(self, text):
        # A filter keeps every digit: rounding 0.00001 would turn "lt" into
        # "lte 0".
        if not re.fullmatch(
                r'-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?', text):
            raise ValueError("must be a number")
        return self.check(float(text))

    def check(self, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError("must be a number")
        if not 0 <= value <= 1:
            raise ValueError("must be between 0 and 1")
        return float(value)

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
                or not re.fullmatch(r'[0-9]{4}-[0-9]{2}-[0-9]{2}', value)):
            raise ValueError("must be a date as YYYY-MM-DD")
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a valid date") from None

    def value_schema(self):
        return {'type': 'string', 'format': 'date'}


# RFC 3339 date-time; Python keeps the first 6 digits of a fraction.
TIMESTAMP = re.compile(
    r'([0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:)([0-9]{2})'
    r'(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})')


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
        match = isinstance(value, str) and TIMESTAMP.fullmatch(value)
        if not match:
            raise ValueError(
                "must be an RFC 3339 timestamp such as "
                "2026-01-31T09:30:00Z")
        start, second, fraction, offset = match.groups()
        leap = second == '60'
        if leap:
            # Python has no second 60: keep the last microsecond before it.
            second, fraction = '59', '.999999'
        text = start + second + (fraction or '') + offset
        try:
            parsed = dt.datetime.fromisoformat(
                text.upper().replace('Z', '+00:00'))
            return parsed.astimezone(dt.timezone.utc).replace(tzinfo=None)
        except ValueError:
            raise ValueError(f"{value!r} is not a valid timestamp") from None
        except OverflowError:
            raise ValueError(
                f"{value!r} is out of range: in UTC it must fall in the "
                "years 1 to 9999") from None

    def value_schema(self):
        return {'type': 'string', 'format': 'date-time'}
