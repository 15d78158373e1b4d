"""The story every adapter test tells: a campaign, Ann targeted, her action dispatched."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import delete, select

from tests.campaign_log import written
from tests.handlers.conftest import CAMPAIGN_T0
from tests.helpers import ANN, event
from touchline.adapters.dispatcher import Dispatcher
from touchline.adapters.recheck import decode_proof
from touchline.adapters.registry import Pacing, dispatcher_runners
from touchline.bootstrap import Backbone
from touchline.events import Envelope, Identities
from touchline.events.action import ActionSettled, ConsentProof
from touchline.events.campaign import CampaignLaunched, CustomerTargeted
from touchline.events.campaign_terms import ContactPressure, OfferTerms, QuietHours, Step
from touchline.events.consent import ContactChannel
from touchline.events.instants import from_us
from touchline.log.port import TopicPartition
from touchline.processing.clock import ManualClock
from touchline.processing.dead_letter import describe
from touchline.processing.runner import ProcessorRunner
from touchline.store import action_ledger as ledger
from touchline.store.tables import campaign_actions, projector_positions, timers

CAMPAIGN = "spring"
ANN_FAX = "+14155550190"
T0 = CAMPAIGN_T0


class FakeTime:
    """A monotonic clock that moves only by the sleeps asked of it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def publish(backbone: Backbone, *events: Envelope) -> None:
    result = backbone.publisher.publish(list(events))
    assert not result.rejected, result.rejected
    backbone.runtime.catch_up()


def requested(
    backbone: Backbone,
    channel: ContactChannel,
    *,
    name: str = "Spring sale",
    quiet_hours: QuietHours | None = None,
    pressure: ContactPressure | None = None,
) -> str:
    """Launch a one-step campaign via ``channel``, target Ann: her action's id."""
    terms = CampaignLaunched(
        name=name,
        offers=(OfferTerms(code="SPRING10"),),
        sequence=(Step(channel=channel),),
        quiet_hours=quiet_hours,
        pressure=pressure,
    )
    publish(backbone, event(terms, T0, identities=Identities(), campaign_id=CAMPAIGN))
    # Ann as every channel can reach her (her fax number only where faxed).
    ann = ANN if channel != "fax" else Identities(email=ANN.email, phone=ANN.phone, fax=ANN_FAX)
    at = T0 + timedelta(minutes=1)
    publish(backbone, event(CustomerTargeted(), at, identities=ann, campaign_id=CAMPAIGN))
    with backbone.stores["campaigns"].connect() as connection:
        [action_id] = connection.execute(select(campaign_actions.c.action_id)).scalars()
    return str(action_id)


class Dispatchers:
    """Fresh dispatchers for one channel, as ``touchline adapters`` builds them,
    on the test's clock and sleeps; their adapters closed at the end."""

    def __init__(
        self,
        backbone: Backbone,
        channel: str,
        clock: ManualClock,
        fake_time: FakeTime,
        rng: random.Random,
    ) -> None:
        self.backbone = backbone
        self.channel = channel
        self.pacing = Pacing(
            clock=clock, sleep=fake_time.sleep, monotonic=fake_time.monotonic, rng=rng
        )
        self.made: list[ProcessorRunner] = []

    def new(self) -> ProcessorRunner:
        [runner] = dispatcher_runners(self.backbone, only=[self.channel], pacing=self.pacing)
        self.made.append(runner)
        return runner

    def close(self) -> None:
        for runner in self.made:
            adapter_of(runner).close()


def dispatch(runner: ProcessorRunner) -> None:
    """Run ``runner`` until it has nothing left to do now: its due timers
    fired (a retry appended to the actions), every action read."""
    while runner.fire_due() + runner.step():
        pass


def until_settled(
    backbone: Backbone, runner: ProcessorRunner, clock: ManualClock, action_id: str
) -> list[timedelta]:
    """While the action waits, put back for later, move the clock to its
    time and dispatch: the waits, one per put-back."""
    waits: list[timedelta] = []
    while (now := row(backbone, action_id)).status == ledger.PENDING:
        assert now.not_before_us is not None, "pending, and never put back: nothing brings it"
        assert len(waits) < 20, f"still put back after {len(waits)} waits"
        wait = from_us(now.not_before_us) - clock.now()
        waits.append(wait)
        clock.advance(max(wait, timedelta(0)))
        dispatch(runner)
        assert row(backbone, action_id) != now, "its time came and nothing happened"
    return waits


def adapter_of(runner: ProcessorRunner) -> Dispatcher:
    processor = runner.processor
    assert isinstance(processor, Dispatcher)
    return processor


def row(backbone: Backbone, action_id: str) -> ledger.ActionRow:
    with backbone.stores["campaigns"].connect() as connection:
        found = ledger.load_action(connection, action_id)
    assert found is not None
    return found


def proof_of(backbone: Backbone, action_id: str) -> ConsentProof:
    proof = decode_proof(row(backbone, action_id).proof)
    assert proof is not None
    return proof


def reports(backbone: Backbone) -> list[Envelope]:
    """``action.settled`` events as appended to the touchpoints (repeats included)."""
    return [
        e
        for e in written(backbone, backbone.settings.topics.touchpoints)
        if isinstance(e.payload, ActionSettled)
    ]


def dead_letters(backbone: Backbone) -> list[dict[str, str]]:
    """The dead letters, each as ``touchline dead-letters`` describes it."""
    topic = backbone.settings.topics.dead_letter
    return [
        describe(record)
        for partition in range(backbone.log.partitions(topic))
        for record in backbone.log.read(TopicPartition(topic, partition), 0, 1000)
    ]


def forget_timers(backbone: Backbone, runner: ProcessorRunner) -> None:
    """What a crash after the ledger's commits and before the runner's
    leaves: the timers of the batch not stored (nor its positions: call
    :func:`forget_positions` too)."""
    with backbone.stores["campaigns"].begin() as connection:
        connection.execute(delete(timers).where(timers.c.processor == runner.processor.name))


def forget_positions(backbone: Backbone, runner: ProcessorRunner) -> None:
    """What a crash after the ledger's commits and before the runner's leaves:
    the dispatcher's positions not stored, so it reads its actions again."""
    with backbone.stores["campaigns"].begin() as connection:
        connection.execute(
            delete(projector_positions).where(
                projector_positions.c.projector == runner.processor.name
            )
        )
