from trytond.exceptions import UserError
from trytond.model.exceptions import ValidationError


class WebhookURLError(ValidationError):
    pass


class WebhookEventTypeError(ValidationError):
    pass


class EncryptionKeyError(UserError):
    "The key that encrypts webhook secrets is missing or invalid"
