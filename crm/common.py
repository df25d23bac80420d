from sql.conditionals import Coalesce

from trytond.model import fields


class UpdatedAtMixin:
    "Last change time of a record, for sync clients that sort and filter"
    __slots__ = ()

    # Tryton leaves write_date empty until the first write, so the last
    # change is the write date when there is one and the creation date
    # otherwise.
    updated_at = fields.Function(
        fields.Timestamp("Updated At"),
        'get_updated_at', searcher='search_updated_at')

    def get_updated_at(self, name):
        return self.write_date or self.create_date

    @classmethod
    def search_updated_at(cls, name, clause):
        _, operator, value = clause[:3]
        return ['OR',
            ('write_date', operator, value),
            [('write_date', '=', None), ('create_date', operator, value)],
            ]

    @classmethod
    def order_updated_at(cls, tables):
        table, _ = tables[None]
        return [Coalesce(table.write_date, table.create_date)]
