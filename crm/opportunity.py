from trytond.model import fields
from trytond.pool import PoolMeta

from .common import UpdatedAtMixin


class SaleOpportunity(UpdatedAtMixin, metaclass=PoolMeta):
    __name__ = 'sale.opportunity'

    # The opportunity's own "contact" is a contact mechanism; a CRM deal
    # points at the person it is negotiated with.
    contact_person = fields.Many2One(
        'party.party', "Contact Person", ondelete='SET NULL',
        domain=[('kind', '=', 'person')])
    activities = fields.One2Many('crm.activity', 'deal', "Activities")
