import datetime as dt
import logging

from trytond import config
from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, Unique, fields
from trytond.model.exceptions import ValidationError
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.transaction import Transaction

from . import keys, scopes
from .exceptions import ApiKeySecretMissing

logger = logging.getLogger(__name__)

# last_used_at is written at most this often per key, so a busy key does
# not turn every read into a write.
LAST_USED_PRECISION = dt.timedelta(minutes=1)


def now():
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def server_secret():
    secret = config.get('crm_api', 'key_secret', default=None)
    if not secret:
        raise ApiKeySecretMissing(gettext(
                'crm_public_api.msg_key_secret_missing'))
    return secret


class ApiKey(ModelSQL, ModelView):
    "Bearer credential of the public API, stored as a keyed hash"
    __name__ = 'crm.api_key'

    name = fields.Char("Name", required=True)
    prefix = fields.Char(
        "Prefix", readonly=True, required=True,
        help="The start of the key, kept in clear to recognise it.")
    key_hash = fields.Char("Key Hash", readonly=True, required=True)
    user = fields.Many2One(
        'res.user', "User", required=True, ondelete='CASCADE',
        help="The key acts with the rights of this user, never more.")
    scopes = fields.Char(
        "Scopes", required=True,
        help="Space separated, such as \"contacts:read deals:write\".")
    expires_at = fields.DateTime("Expires At")
    revoked_at = fields.DateTime("Revoked At", readonly=True)
    last_used_at = fields.DateTime("Last Used At", readonly=True)
    rate_limit = fields.Integer(
        "Rate Limit",
        domain=['OR', ('rate_limit', '=', None), ('rate_limit', '>', 0)],
        help="Requests per minute; empty for the server default.")
    state = fields.Function(fields.Selection([
                ('active', "Active"),
                ('expired', "Expired"),
                ('revoked', "Revoked"),
                ], "State"), 'get_state')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints = [
            ('prefix_unique', Unique(t, t.prefix),
                'crm_public_api.msg_key_prefix_unique'),
            ]
        cls._order = [('id', 'DESC')]
        cls._buttons.update({
                'revoke': {
                    'invisible': Eval('state') == 'revoked',
                    'depends': ['state'],
                    },
                })

    @classmethod
    def default_user(cls):
        return Transaction().user or None

    def get_state(self, name):
        if self.revoked_at:
            return 'revoked'
        if self.expires_at and self.expires_at <= now():
            return 'expired'
        return 'active'

    @property
    def scope_set(self):
        return set(self.scopes.split())

    @classmethod
    def validate_fields(cls, api_keys, field_names):
        super().validate_fields(api_keys, field_names)
        if field_names and 'scopes' not in field_names:
            return
        for api_key in api_keys:
            try:
                scopes.parse(api_key.scopes)
            except ValueError as exception:
                raise ValidationError(gettext(
                        'crm_public_api.msg_invalid_scopes',
                        key=api_key.rec_name,
                        error=str(exception))) from exception

    @classmethod
    def issue(cls, name, scope_list, user, expires_at=None, rate_limit=None):
        "Create a key and return the record with the key in clear"
        secret = server_secret()
        key = keys.generate_key()
        api_key, = cls.create([{
                    'name': name,
                    'prefix': keys.check_format(key),
                    'key_hash': keys.hash_key(key, secret),
                    'user': user,
                    'scopes': ' '.join(scopes.parse(' '.join(scope_list))),
                    'expires_at': expires_at,
                    'rate_limit': rate_limit,
                    }])
        logger.info(
            "API key %s (%s) issued for user %s", api_key.id,
            api_key.prefix, api_key.user.id)
        return api_key, key

    @classmethod
    def authenticate(cls, key):
        """Return the active key record of a key in clear, or None

        The prefix finds the record and the hash comparison, made in
        constant time, proves the key."""
        try:
            prefix = keys.check_format(key)
        except keys.MalformedKey:
            return None
        api_keys = cls.search([('prefix', '=', prefix)], limit=1)
        if not api_keys:
            return None
        api_key, = api_keys
        if not keys.verify_key(key, server_secret(), api_key.key_hash):
            return None
        if api_key.get_state(None) != 'active':
            return None
        # A deactivated user may not log in, so its keys may not act.  Only
        # the flag is read: api_key.user.active would load the whole user.
        User = Pool().get('res.user')
        user, = User.read([api_key.user.id], ['active'])
        if not user['active']:
            return None
        return api_key

    def needs_touch(self):
        return not self.last_used_at or (
            now() - self.last_used_at >= LAST_USED_PRECISION)

    def touch(self):
        "Record the use of the key"
        moment = now()
        table = self.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.update(
                [table.last_used_at], [moment],
                where=table.id == self.id))

    @classmethod
    @ModelView.button
    def revoke(cls, api_keys):
        cls.write(
            [k for k in api_keys if not k.revoked_at],
            {'revoked_at': now()})
        for api_key in api_keys:
            logger.info("API key %s (%s) revoked", api_key.id, api_key.prefix)

    @classmethod
    def copy(cls, api_keys, default=None):
        # A copy would share the hash, so the same secret would open two
        # records.
        if api_keys:
            raise ValidationError(gettext('crm_public_api.msg_key_no_copy'))
        return super().copy(api_keys, default=default)
