from trytond.model.exceptions import ValidationError


class ContactAccountError(ValidationError):
    pass
