from trytond.tests.test_tryton import ModuleTestCase


class CrmExternalIntegrationsTestCase(ModuleTestCase):
    "Structural checks of the webhooks module"
    module = 'crm_external_integrations'


del ModuleTestCase
