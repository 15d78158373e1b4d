"""The processor registry: what `run`, `worker --processor`, `lag` and the tests build."""

from __future__ import annotations

from pathlib import Path

import pytest

from touchline import registry
from touchline.bootstrap import build_backbone, make_codec
from touchline.cli import main
from touchline.config import Settings
from touchline.handlers.identity import IdentityResolver
from touchline.handlers.synchronizer import CampaignSynchronizer
from touchline.projections.profile_store import ProfileProjection
from touchline.projections.timeline import TimelineProjection


def test_the_pipeline_in_order_with_the_profile_following_the_timeline(
    settings: Settings,
) -> None:
    context = registry.Context(settings, make_codec(settings))
    resolver, timeline, synchronizer = registry.build(context)
    assert isinstance(resolver, IdentityResolver)
    assert isinstance(timeline, TimelineProjection)
    assert isinstance(synchronizer, CampaignSynchronizer)
    assert [type(f) for f in timeline.followers] == [ProfileProjection]
    assert registry.names() == ["identity-resolver", "timeline", "synchronizer"]
    assert registry.store_of("synchronizer") == "campaigns"
    assert registry.host_of("profile") == "timeline"


def test_a_follower_name_selects_its_host_and_an_unknown_name_lists_the_known(
    settings: Settings,
) -> None:
    context = registry.Context(settings, make_codec(settings))
    [timeline] = registry.build(context, ["profile"])
    assert timeline.name == "timeline"
    with pytest.raises(registry.UnknownProcessor, match=r"'synchronise'.*identity-resolver"):
        registry.build(context, ["synchronise"])


def test_a_backbone_of_one_processor(settings: Settings) -> None:
    with build_backbone(settings, only=["timeline"]) as backbone:
        assert [runner.processor.name for runner in backbone.runners] == ["timeline"]


def test_lag_names_every_processor_and_follower(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--data-dir", str(tmp_path), "lag"]) == 0
    out = capsys.readouterr().out
    for name in registry.names():
        assert f"{name} on " in out
    assert "  profile: the 360-degree profile, folded in the timeline's transaction" in out
