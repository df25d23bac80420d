import datetime as dt
import logging
import weakref
from collections import namedtuple

from cryptography.fernet import Fernet, InvalidToken
from sql import Literal

from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, fields
from trytond.transaction import Transaction

from . import guard, settings, signing
from .event import CATALOGUE, now
from .exceptions import (
    EncryptionKeyError, WebhookEventTypeError, WebhookURLError)

logger = logging.getLogger(__name__)

Subscription = namedtuple('Subscription', ['id', 'company', 'event_types'])
# The subscriptions as read by each transaction.  A process-wide cache
# would let a change miss a webhook created by another process, or refer
# to one it deleted.
_subscriptions = weakref.WeakKeyDictionary()


def _fernet():
    key = settings.encryption_key()
    if not key:
        raise EncryptionKeyError(gettext(
                'crm_external_integrations.msg_encryption_key_missing'))
    try:
        return Fernet(key)
    except ValueError as exception:
        raise EncryptionKeyError(gettext(
                'crm_external_integrations.msg_encryption_key_invalid')
            ) from exception


def encrypt(secret):
    return _fernet().encrypt(secret.encode('ascii')).decode('ascii')


class Webhook(ModelSQL, ModelView):
    "Subscription of an HTTP endpoint to CRM events"
    __name__ = 'crm.webhook'

    name = fields.Char("Name", required=True)
    url = fields.Char(
        "URL", required=True,
        help="The http or https address that receives the events.")
    event_types = fields.MultiSelection(
        [(t, t) for t, _, _ in CATALOGUE], "Event Types", sort=False,
        translate=False,
        help="The events sent to the URL.")
    active = fields.Boolean(
        "Active",
        help="Inactive webhooks receive nothing; a 410 response deactivates "
        "a webhook.")
    company = fields.Many2One(
        'company.company', "Company", required=True, ondelete='CASCADE')
    secret_encrypted = fields.Char("Encrypted Secret", readonly=True)
    previous_secret_encrypted = fields.Char(
        "Encrypted Previous Secret", readonly=True)
    previous_secret_expires_at = fields.Timestamp(
        "Previous Secret Expires At", readonly=True,
        help="Until then, requests carry a signature with each secret.")
    disabled_at = fields.Timestamp("Disabled At", readonly=True)
    disabled_reason = fields.Char("Disabled Reason", readonly=True)
    deliveries = fields.One2Many(
        'crm.webhook.delivery', 'webhook', "Deliveries", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('id', 'DESC')]

    @staticmethod
    def default_active():
        return True

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @classmethod
    def subscriptions(cls):
        "Return the Subscription of every active webhook"
        transaction = Transaction()
        subscriptions = _subscriptions.get(transaction)
        if subscriptions is None:
            # Every change to a subscribed model calls this in its own
            # transaction, so one plain query replaces a search and a read.
            table = cls.__table__()
            cursor = transaction.connection.cursor()
            cursor.execute(*table.select(
                    table.id, table.company, table.event_types,
                    where=table.active == Literal(True)))
            rows = [dict(zip(['id', 'company', 'event_types'], r))
                for r in cursor]
            event_types = cls.event_types.get(
                [r['id'] for r in rows], cls, 'event_types', values=rows)
            subscriptions = [
                Subscription(r['id'], r['company'], set(event_types[r['id']]))
                for r in rows]
            _subscriptions[transaction] = subscriptions
        return subscriptions

    @classmethod
    def create(cls, vlist):
        vlist = [v.copy() for v in vlist]
        for values in vlist:
            if not values.get('secret_encrypted'):
                values['secret_encrypted'] = encrypt(
                    signing.generate_secret())
        webhooks = super().create(vlist)
        _subscriptions.pop(Transaction(), None)
        return webhooks

    @classmethod
    def write(cls, *args):
        super().write(*args)
        _subscriptions.pop(Transaction(), None)

    @classmethod
    def delete(cls, webhooks):
        super().delete(webhooks)
        _subscriptions.pop(Transaction(), None)

    @classmethod
    def copy(cls, webhooks, default=None):
        default = default.copy() if default else {}
        # A copy gets a secret of its own and no history.
        default.setdefault('secret_encrypted', None)
        default.setdefault('previous_secret_encrypted', None)
        default.setdefault('previous_secret_expires_at', None)
        default.setdefault('deliveries', None)
        return super().copy(webhooks, default=default)

    @classmethod
    def validate_fields(cls, webhooks, field_names):
        super().validate_fields(webhooks, field_names)
        cls.check_url(webhooks, field_names)
        cls.check_event_types(webhooks, field_names)

    @classmethod
    def check_url(cls, webhooks, field_names=None):
        if field_names and 'url' not in field_names:
            return
        allowed = guard.parse_networks(settings.allow_networks())
        for webhook in webhooks:
            try:
                guard.check_url(webhook.url, allowed)
            except guard.BlockedAddress as exception:
                raise WebhookURLError(gettext(
                        'crm_external_integrations.msg_url_blocked',
                        webhook=webhook.rec_name,
                        url=guard.redact(webhook.url),
                        reason=str(exception))) from exception
            except guard.GuardError as exception:
                raise WebhookURLError(gettext(
                        'crm_external_integrations.msg_url_invalid',
                        webhook=webhook.rec_name,
                        url=guard.redact(webhook.url),
                        reason=str(exception))) from exception

    @classmethod
    def check_event_types(cls, webhooks, field_names=None):
        if field_names and 'event_types' not in field_names:
            return
        for webhook in webhooks:
            if not webhook.event_types:
                raise WebhookEventTypeError(gettext(
                        'crm_external_integrations.msg_event_types_missing',
                        webhook=webhook.rec_name))

    def signing_secrets(self):
        "Return the secrets that sign a request now, the current one first"
        fernet = _fernet()
        tokens = [self.secret_encrypted]
        if (self.previous_secret_encrypted
                and self.previous_secret_expires_at
                and self.previous_secret_expires_at > now()):
            tokens.append(self.previous_secret_encrypted)
        try:
            return [fernet.decrypt(t.encode('ascii')).decode('ascii')
                for t in tokens]
        except InvalidToken as exception:
            raise EncryptionKeyError(gettext(
                    'crm_external_integrations.msg_secret_undecryptable',
                    webhook=self.rec_name)) from exception

    def rotate_secret(self, grace=None):
        """Replace the secret and return the new one in clear

        The previous secret keeps signing for grace seconds (the
        configured rotation_grace by default)."""
        if grace is None:
            grace = settings.rotation_grace()
        secret = signing.generate_secret()
        values = {'secret_encrypted': encrypt(secret)}
        if grace > 0:
            values['previous_secret_encrypted'] = self.secret_encrypted
            values['previous_secret_expires_at'] = (
                now() + dt.timedelta(seconds=grace))
        else:
            values['previous_secret_encrypted'] = None
            values['previous_secret_expires_at'] = None
        self.write([self], values)
        logger.info(
            "secret of webhook %s rotated, previous one valid for %s s",
            self.id, grace)
        return secret

    def disable(self, reason):
        self.write([self], {
                'active': False,
                'disabled_at': now(),
                'disabled_reason': reason,
                })
        logger.info("webhook %s disabled: %s", self.id, reason)
