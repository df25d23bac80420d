"""Schemathesis hooks of tests/test_api_schema.py, loaded by the st process.

A request can fit the OpenAPI document and still be rejected for state
outside the request.  Examples are an id that names no record, a cursor
issued for another query, and a webhook URL whose host does not resolve
or resolves to a blocked address.  JSON Schema cannot state those rules,
so the API reports each with a problem type of its own.  schemathesis.toml
lets positive_data_acceptance take 400 and 422 for that reason, and the
check below fails every 400 or 422 of a schema-valid request whose
problem type is another.
"""
import schemathesis

STATUSES = {400, 422}
# NOTE: unusable-url also covers a URL that fits the pattern of the
# document but that urllib cannot split, such as one with a bad port.
OUTSIDE_REQUEST_PROBLEMS = {
    'urn:crm:problem:invalid-reference',
    'urn:crm:problem:invalid-cursor',
    'urn:crm:problem:unusable-url',
    }


@schemathesis.check
def valid_request_rejected_only_for_outside_state(ctx, response, case):
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return None
    if has_null_parameter(case) or response.status_code not in STATUSES:
        return None

    try:
        problem = response.json()
    except ValueError:
        problem = None
    if not isinstance(problem, dict) \
            or problem.get('type') not in OUTSIDE_REQUEST_PROBLEMS:
        raise AssertionError(
            f"A schema-valid request got {response.status_code} for a "
            "reason the document could state:\n"
            f"{response.text[:2000]}")
    return None


def has_null_parameter(case):
    """Tell whether a parameter of the case is None

    A stateful link can copy a null field of a response into a parameter
    that takes no null, which goes out as the text "None".  schemathesis
    4.32 still counts such a step as positive."""
    containers = [case.path_parameters, case.query, case.headers]
    return any(
        value is None
        for container in containers if container
        for value in container.values())
