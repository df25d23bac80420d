from trytond.pool import PoolMeta

from .event import EventSourceMixin


class Activity(EventSourceMixin, metaclass=PoolMeta):
    __name__ = 'crm.activity'
    _webhook_resource = 'activities'
