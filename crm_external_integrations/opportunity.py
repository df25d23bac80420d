from trytond.pool import PoolMeta

from .event import Event, EventSourceMixin

# Stages that have an event of their own besides deal.stage_changed.
STAGE_EVENTS = {
    'won': 'deal.won',
    'lost': 'deal.lost',
    }


class SaleOpportunity(EventSourceMixin, metaclass=PoolMeta):
    __name__ = 'sale.opportunity'
    _webhook_resource = 'deals'

    @classmethod
    def _webhook_update_events(cls, prefix, data, changed, company):
        events = super()._webhook_update_events(
            prefix, data, changed, company)
        if 'stage' in changed:
            previous = {'stage': changed['stage']}
            events.append(
                Event('deal.stage_changed', data, previous, company))
            if data['stage'] in STAGE_EVENTS:
                events.append(Event(
                        STAGE_EVENTS[data['stage']], data, previous, company))
        return events
