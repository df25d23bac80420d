from collections.abc import Mapping

from trytond.cache import Cache
from trytond.pool import Pool, PoolMeta
from trytond.transaction import Transaction


class ClearsAPIContext:
    "Clear the cached API contexts of users when a record changes"
    __slots__ = ()

    @classmethod
    def on_modification(cls, mode, records, field_names=None):
        super().on_modification(mode, records, field_names=field_names)
        Pool().get('res.user')._api_context_cache.clear()


class User(ClearsAPIContext, metaclass=PoolMeta):
    __name__ = 'res.user'

    # get_preferences reads the user, its groups and its language on each
    # call, which took about half the time of a GET of one contact in
    # ./run bench --profile.  The cache is cleared when any of them changes.
    # Other server processes see the clearing when they next sync Tryton's
    # caches ([cache] clean_timeout), as they do for groups and access.
    _api_context_cache = Cache('res.user.api_context', context=False)

    @classmethod
    def get_api_context(cls):
        """Return the preference context of the transaction's user, as
        get_preferences(context_only=True) computes it in a new transaction

        NOTE: the company and employee names (the .rec_name keys) stay as
        cached when only the party of the company or employee is renamed.
        """
        user = Transaction().user
        context = cls._api_context_cache.get(user)
        if context is None:
            context = cls._api_context_cache.set(
                user, cls.get_preferences(context_only=True))
        # Tryton's caches cannot take the cache's read-only mappings in a
        # transaction context, so each caller gets a plain copy.
        return plain(context)


def plain(value):
    "Return a copy of a value from Cache with dicts and lists again"
    if isinstance(value, tuple):
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    return value


class UserGroup(ClearsAPIContext, metaclass=PoolMeta):
    __name__ = 'res.user-res.group'
