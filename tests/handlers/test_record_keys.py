"""No record on any topic carries an email, phone, fax or CRM id as its key.

Touchpoint keys are HMAC-SHA-256 of the identifier with the deployment's
secret: placement stays deterministic, and a log, its compactions and its
dead letters hold no personal data in keys that a per-customer erasure
cannot reach.
"""

from __future__ import annotations

from datetime import timedelta

import msgspec

from tests.conftest import DAY
from tests.handlers.test_five_channels import _on_her_own, _ties
from tests.helpers import event
from tests.runtimes import EmbeddedRuntime, KafkaRuntime
from touchline.bootstrap import build_backbone
from touchline.events import Identities
from touchline.events.email import EmailOpened
from touchline.events.keys import record_key
from touchline.log.port import Record, TopicPartition

Runtime = EmbeddedRuntime | KafkaRuntime


def test_no_key_on_any_topic_holds_an_identifier(runtime: Runtime) -> None:
    backbone = runtime.backbone
    events = _on_her_own() + _ties()
    # A conflicting re-send and a refused event: dead letters carry keys too.
    first = event(EmailOpened(message_id="m9"), DAY, identities=Identities(email="zoe@example.com"))
    other = msgspec.structs.replace(first, occurred_at=DAY + timedelta(hours=1))
    assert not backbone.publisher.publish([*events, first]).rejected
    runtime.drain()
    assert not backbone.publisher.publish([other]).rejected
    runtime.drain()

    values = {value.lower() for e in [*events, first] for _, value in e.identities.items()} | {
        "zoe@example.com"
    }
    keys = []
    for topic in backbone.settings.topics.all():
        for partition, end in backbone.log.end_offsets(topic).items():
            if end:
                records = backbone.log.read(TopicPartition(topic, partition), 0, end)
                keys += [(topic, r.key) for r in records if r.key is not None]
    dead = backbone.settings.topics.dead_letter
    assert any(topic == dead for topic, _ in keys), "no dead letter: nothing checked there"
    touchpoint_keys = [k for t, k in keys if t == backbone.settings.topics.touchpoints]
    assert touchpoint_keys, "no keyed touchpoint: nothing checked"
    for topic, key in keys:
        text = key.decode(errors="replace").lower()
        assert "@" not in text, (topic, text)
        assert not any(value in text for value in values), (topic, text)


def test_the_secret_is_the_deployments_own_and_stable(runtime: Runtime) -> None:
    """Made once, in the database every process opens: another process (here
    a second backbone) places the same identifier on the same key."""
    own = msgspec.structs.replace(runtime.backbone.settings, key_secret="")
    with build_backbone(own) as first:
        secret = first.publisher.key_secret
    assert len(secret) == 64
    with build_backbone(own) as again:
        assert again.publisher.key_secret == secret
    assert record_key("email:ann@example.com", secret) != record_key(
        "email:ann@example.com", b"another deployment"
    )
    record = Record(value=b"", key=record_key("email:ann@example.com", secret))
    assert b"ann" not in (record.key or b"")
