from trytond.pool import PoolMeta

from .event import EventSourceMixin


class Activity(EventSourceMixin, metaclass=PoolMeta):
    __name__ = 'crm.activity'

    @classmethod
    def _webhook_prefixes(cls):
        return {'activity'}

    @classmethod
    def _webhook_resources(cls, activities):
        return {a.id: 'activities' for a in activities}

    @classmethod
    def _webhook_companies(cls, activities):
        return {a.id: a.company.id for a in activities}
