import datetime

from trytond.model import ModelSQL, ModelView, fields
from trytond.pyson import Eval
from trytond.transaction import Transaction

from .common import UpdatedAtMixin


class Activity(UpdatedAtMixin, ModelSQL, ModelView):
    "Call, email, meeting, note or task logged against CRM records"
    __name__ = 'crm.activity'

    type = fields.Selection('get_types', "Type", required=True)
    subject = fields.Char("Subject", required=True)
    notes = fields.Text("Notes")
    due_at = fields.DateTime("Due At")
    done = fields.Boolean("Done")
    done_at = fields.DateTime(
        "Done At", states={'invisible': ~Eval('done')})
    contact = fields.Many2One(
        'party.party', "Contact", ondelete='CASCADE',
        domain=[('kind', '=', 'person')])
    account = fields.Many2One(
        'party.party', "Account", ondelete='CASCADE',
        domain=[('kind', '=', 'organisation')])
    deal = fields.Many2One(
        'sale.opportunity', "Deal", ondelete='CASCADE')
    owner = fields.Many2One('company.employee', "Owner")
    company = fields.Many2One('company.company', "Company", required=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('due_at', 'DESC NULLS FIRST'), ('id', 'DESC')]

    @classmethod
    def get_types(cls):
        "Activity types; modules add their own (a LinkedIn message, say)"
        return [
            ('call', "Call"),
            ('email', "Email"),
            ('meeting', "Meeting"),
            ('note', "Note"),
            ('task', "Task"),
            ]

    @staticmethod
    def default_type():
        return 'task'

    @staticmethod
    def default_done():
        return False

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @staticmethod
    def default_owner():
        return Transaction().context.get('employee')

    @fields.depends('done', 'done_at')
    def on_change_done(self):
        if self.done and not self.done_at:
            self.done_at = utc_now()

    @classmethod
    def create(cls, vlist):
        vlist = [stamp_done(v) for v in vlist]
        return super().create(vlist)

    @classmethod
    def write(cls, *args):
        actions = iter(args)
        args = []
        for activities, values in zip(actions, actions):
            # An activity done before keeps the time it was done.
            stamped = [a for a in activities if not a.done_at]
            kept = [a for a in activities if a.done_at]
            if stamped:
                args.extend((stamped, stamp_done(values)))
            if kept:
                args.extend((kept, values))
        super().write(*args)


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def stamp_done(values):
    "Return values with done_at set when done is set without it"
    if values.get('done') and not values.get('done_at'):
        values = {**values, 'done_at': utc_now()}
    return values
