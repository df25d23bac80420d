from trytond.pool import Pool, PoolMeta

# A user's API context carries its language code and locale, taken from
# ir.lang, or from the default language of ir.configuration.


class Lang(metaclass=PoolMeta):
    __name__ = 'ir.lang'

    @classmethod
    def on_modification(cls, mode, languages, field_names=None):
        super().on_modification(mode, languages, field_names=field_names)
        Pool().get('res.user')._api_context_cache.clear()


class Configuration(metaclass=PoolMeta):
    __name__ = 'ir.configuration'

    @classmethod
    def on_modification(cls, mode, records, field_names=None):
        super().on_modification(mode, records, field_names=field_names)
        Pool().get('res.user')._api_context_cache.clear()
