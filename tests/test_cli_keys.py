"""`touchline keys`, as an operator hands out and takes back API keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.api.conftest import serving
from touchline import exit_codes
from touchline.bootstrap import build_backbone
from touchline.cli import main
from touchline.config import load_settings


def _run(data_dir: Path, *args: str) -> int:
    return main(["--data-dir", str(data_dir), "keys", *args])


def test_create_list_revoke_and_a_revoked_key_is_refused_over_http(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """create prints the key once (alone on stdout) and says it will not be
    shown again; list never shows a secret; after revoke, the running API
    answers the key 401."""
    create = ["create", "--name", "crm", "--scope", "publish", "agent", "--source", "crm"]
    assert _run(data_dir, *create) == exit_codes.OK
    made = capsys.readouterr()
    token = made.out.strip()
    assert token.startswith("tl_")
    assert "\n" not in token
    assert "will not be shown again" in made.err
    key_id, secret = token.split("_", 2)[1:]
    assert f"{key_id}  crm  scopes publish,agent  sources crm" in made.err

    assert _run(data_dir, "list") == exit_codes.OK
    listed = capsys.readouterr().out
    assert f"{key_id}  crm  scopes publish,agent  sources crm  created " in listed
    assert secret not in listed
    assert _run(data_dir, "list", "--json") == exit_codes.OK
    [entry] = json.loads(capsys.readouterr().out)
    assert (entry["key_id"], entry["revoked_at"]) == (key_id, None)
    assert secret not in json.dumps(entry)

    with (
        build_backbone(load_settings({}, data_dir=str(data_dir))) as backbone,
        serving(backbone) as api,
    ):
        timeline = "/v1/customers/cus_x/timeline"
        with_key = {"Authorization": f"Bearer {token}"}
        assert api.client.get(timeline, headers=with_key).status_code == 404  # let in
        assert _run(data_dir, "revoke", key_id) == exit_codes.OK
        assert f"revoked {key_id}  crm" in capsys.readouterr().out
        refused = api.client.get(timeline, headers=with_key)
        assert refused.status_code == 401
        assert "was revoked" in refused.json()["detail"]

    assert _run(data_dir, "list") == exit_codes.OK
    assert "REVOKED" in capsys.readouterr().out.splitlines()[0]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["create", "--name", "x", "--scope", "owner"], exit_codes.USAGE, "unknown scope 'owner'"),
        (
            ["create", "--name", "x", "--scope", "publish", "--type", "email.send"],
            exit_codes.USAGE,
            "unknown event type 'email.send' (did you mean email.sent",
        ),
        (["revoke", "feedfacefeedface"], exit_codes.REFUSED, "no key 'feedfacefeedface'"),
    ],
)
def test_bad_requests_exit_non_zero_with_the_reason(
    data_dir: Path, capsys: pytest.CaptureFixture[str], args: list[str], code: int, message: str
) -> None:
    """An unknown scope or event type is a usage error; an unknown key is refused."""
    assert _run(data_dir, *args) == code
    assert message in capsys.readouterr().err
    assert _run(data_dir, "list") == exit_codes.OK
    assert "no keys yet" in capsys.readouterr().out
