from trytond.pool import PoolMeta

from .event import EventSourceMixin

RESOURCE_OF_KIND = {
    'person': 'contacts',
    'organisation': 'accounts',
    }


class Party(EventSourceMixin, metaclass=PoolMeta):
    __name__ = 'party.party'

    @classmethod
    def _webhook_prefixes(cls):
        return {'contact', 'account'}

    @classmethod
    def _webhook_resources(cls, parties):
        return {p.id: RESOURCE_OF_KIND.get(p.kind) for p in parties}
