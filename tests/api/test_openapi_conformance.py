"""schemathesis against the running server, from its own OpenAPI document.

Every operation gets generated requests, valid and not: none may answer 5xx,
and every answer must match the document (status, content type, schema).
Then the stateful phase follows the document's links (ingest → the event's
receipt, a lookup → the profile, timeline and next offer). Bounded by the
number of examples, never by time: ``TOUCHLINE_API_EXAMPLES`` raises it for a
longer hunt.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.conftest import Server
from touchline.api.segment_spec import CALL_TYPES

EXAMPLES = int(os.environ.get("TOUCHLINE_API_EXAMPLES", "15"))


SEGMENT = {"/v1/batch", *(f"/v1/{kind}" for kind in CALL_TYPES)}


def invalid_requests_are_refused(ctx: Any, response: Any, case: Any) -> bool | None:
    """schemathesis's negative-data check, but for the ingest: a batch is
    answered 202 with each refusal in its own result, by design (a mixed
    batch keeps its valid events); tests/api/test_ingest.py pins those.
    The Segment routes likewise answer 200 with a call of the wrong shape
    kept and reported (tests/api/test_segment.py)."""
    if case.operation.path == "/v1/events" or case.operation.path in SEGMENT:
        return None
    result: bool | None = negative_data_rejection(ctx, response, case)
    return result


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    invalid_requests_are_refused,
]
BOUNDED = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same requests every run: a failure is repeatable
    database=None,
    suppress_health_check=list(HealthCheck),
)


ENDLESS = ["streamCampaignState", "streamCustomer"]
"""Operations whose answer never ends (an event stream): schemathesis reads
an answer to its end, so these are left to their own tests
(tests/api/test_stream.py, tests/api/test_live.py)."""


def _schema(api: Server) -> Any:
    base = str(api.client.base_url)
    schema = schemathesis.openapi.from_url(f"{base}/schema/openapi.json")
    schema.config.update(base_url=base, headers=dict(api.client.headers))
    return schema.exclude(operation_id=ENDLESS)


@pytest.mark.slow
def test_every_operation_answers_as_documented(api: Server) -> None:
    """Generated requests, valid and invalid, to every operation: no 5xx,
    and every answer as the document says."""
    schema = _schema(api)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 10
    for operation in operations:

        @BOUNDED
        @given(case=operation.as_strategy())
        def conforms(case: Any) -> None:
            case.call_and_validate(checks=CHECKS)

        conforms()


@pytest.mark.slow
def test_linked_calls_answer_as_documented(api: Server) -> None:
    """The stateful phase: calls chained by the document's links (an event
    published, then its receipt; a customer found, then read)."""
    base = _schema(api).as_state_machine()

    class Linked(base):  # type: ignore[valid-type,misc]  # a class schemathesis builds at run time
        def validate_response(
            self,
            response: Any,
            case: Any,
            additional_checks: Any = None,  # noqa: ARG002 (ours are CHECKS)
            **kwargs: Any,  # noqa: ARG002 (the transport's, unused here)
        ) -> None:
            # The same checks as above. Not schemathesis's positive-data
            # check: the document gives the ingest body as any envelope
            # (each type's payload schema is published apart), so a
            # schema-valid body of an unknown type is rightly a 422.
            case.validate_response(response, checks=CHECKS)

    Linked.run(settings=settings(BOUNDED, stateful_step_count=6))
