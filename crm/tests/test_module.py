from trytond.tests.test_tryton import ModuleTestCase


class CrmTestCase(ModuleTestCase):
    "Structural checks of the CRM vocabulary module"
    module = 'crm'


del ModuleTestCase
