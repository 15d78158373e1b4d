"""Every generated schema accepts real encoded events, and refuses wrong ones."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.schemas.examples import aware_datetimes, payloads
from tests.schemas.validator import validation_errors
from touchline.events import CATALOGUE, EventCodec, InvalidEvent, new_event
from touchline.events.base import Identities, Payload
from touchline.schemas.generate import event_schemas, schema_path

SCHEMAS = event_schemas(CATALOGUE)
CODEC = EventCodec(CATALOGUE)
VERSIONS = list(CATALOGUE.versions())
EVENT_ID = UUID("01890a5d-ac96-774b-bcce-b302099a8057")


def _encoded(payload: Payload, **envelope: Any) -> dict[str, Any]:
    event = new_event(
        payload,
        occurred_at=envelope.pop("occurred_at"),
        source="crm",
        identities=Identities(email="ann@example.com"),
        event_id=EVENT_ID,
        **envelope,
    )
    document: dict[str, Any] = json.loads(CODEC.encode(event))
    return document


@pytest.mark.parametrize("cls", VERSIONS, ids=lambda cls: f"{cls.type}@{cls.version}")
@settings(
    max_examples=15,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(data=st.data())
def test_schema_accepts_encoded_events(cls: type[Payload], data: st.DataObject) -> None:
    """An event the codec encodes validates against its type@version schema and decodes back."""
    payload = data.draw(payloads(cls), label="payload")
    optional = data.draw(
        st.fixed_dictionaries(
            {"occurred_at": aware_datetimes()},
            optional={
                "recorded_at": aware_datetimes(),
                "customer_id": st.just("cus_1"),
                "correlation_id": st.uuids(),
                "campaign_id": st.just("spring-sale"),
            },
        ),
        label="envelope",
    )
    document = _encoded(payload, **optional)
    assert validation_errors(document, SCHEMAS[schema_path(cls.type, cls.version)]) == []
    assert CODEC.decode(json.dumps(document).encode()).type == cls.type


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda doc: doc.update(version=doc["version"] + 1), "version"),
        (lambda doc: doc["payload"].update(surprise=1), "unexpected property 'surprise'"),
        (lambda doc: doc.pop("source"), "missing 'source'"),
        (lambda doc: doc.update(occurred_at="2024-05-01T10:00:00"), "not a date-time"),
        (lambda doc: doc.update(extra="x"), "unexpected property 'extra'"),
    ],
    ids=["other-version", "unknown-payload-field", "missing-source", "naive-time", "extra-field"],
)
@settings(max_examples=5, deadline=None, database=None)
@given(data=st.data())
def test_schema_refuses_what_the_codec_refuses(
    change: Callable[[dict[str, Any]], object], reason: str, data: st.DataObject
) -> None:
    """A schema is no rubber stamp: it refuses what the codec's decoder refuses."""
    cls = CATALOGUE.current_types()[0]
    document = _encoded(data.draw(payloads(cls)), occurred_at=data.draw(aware_datetimes()))
    change(document)
    errors = validation_errors(document, SCHEMAS[schema_path(cls.type, cls.version)])
    assert any(reason in error for error in errors), errors
    with pytest.raises(InvalidEvent):
        CODEC.decode(json.dumps(document).encode())
