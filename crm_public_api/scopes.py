"Scopes an API key can carry: read and write per resource"

RESOURCES = []
SCOPES = {}


def register(resource):
    "Add the read and write scopes of a resource"
    if resource in RESOURCES:
        return
    RESOURCES.append(resource)
    SCOPES[f'{resource}:read'] = f"Read {resource}"
    SCOPES[f'{resource}:write'] = (
        f"Create, update and delete {resource} (includes read)")


for resource in ['contacts', 'accounts', 'deals', 'activities']:
    register(resource)


def parse(text):
    "Return the sorted scopes of a comma or space separated list"
    scopes = {s for s in text.replace(',', ' ').split() if s}
    unknown = scopes - SCOPES.keys()
    if unknown:
        raise ValueError(
            "unknown scope: %s (valid scopes: %s)" % (
                ', '.join(sorted(unknown)), ', '.join(SCOPES)))
    if not scopes:
        raise ValueError("at least one scope is required")
    return sorted(scopes)


def grants(scopes, needed):
    "Tell whether a set of scopes grants the needed scope"
    if needed in scopes:
        return True
    resource, action = needed.split(':')
    return action == 'read' and f'{resource}:write' in scopes
