from trytond.tests.test_tryton import ModuleTestCase


class CrmPublicApiTestCase(ModuleTestCase):
    "Structural checks of the public API module"
    module = 'crm_public_api'


del ModuleTestCase
