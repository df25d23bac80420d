from trytond.exceptions import UserError


class ApiKeySecretMissing(UserError):
    pass
