from trytond.pool import PoolMeta

from .res import ClearsAPIContext

# A user's API context carries its language code and locale, taken from
# ir.lang, or from the default language of ir.configuration.


class Lang(ClearsAPIContext, metaclass=PoolMeta):
    __name__ = 'ir.lang'


class Configuration(ClearsAPIContext, metaclass=PoolMeta):
    __name__ = 'ir.configuration'
