from trytond.pool import PoolMeta


class Cron(metaclass=PoolMeta):
    __name__ = 'ir.cron'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.method.selection.extend([
                ('crm.webhook.delivery|enqueue_due',
                    "Queue Due Webhook Deliveries"),
                ('crm.webhook.attempt|clean', "Clean Webhook Attempts"),
                ])
