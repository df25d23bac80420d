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
    def _webhook_untracked_fields(cls):
        # The party module writes them after each create, from the code.
        return super()._webhook_untracked_fields() | {
            'code_alnum', 'code_digit'}

    @classmethod
    def _webhook_resources(cls, parties):
        return {p.id: RESOURCE_OF_KIND.get(p.kind) for p in parties}
