"""The production deployment: docker-compose.yml as Compose itself reads it, and the Dockerfile.

The compose tests run ``docker compose config``, which parses, interpolates and
normalises the file without a Docker engine; they skip when neither the Compose
v2 plugin (``docker compose``) nor a v2 ``docker-compose`` binary is installed.
No YAML library is needed: ``config --format json`` hands back JSON.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"

LATER_PROFILES: tuple[str, ...] = ()
"""Profiles of the services whose commands arrive with later issues (none left)."""

TOUCHLINE_COMMANDS = {
    "migrate": ["db", "upgrade"],
    "worker": ["worker"],
    "api": ["api"],
    "adapters": ["adapters"],
}
LONG_RUNNING = ("worker", "api", "adapters")
TOUCHLINE_ENVIRONMENT = {
    "TOUCHLINE_LOG_URL": "kafka://kafka:9092",
    "TOUCHLINE_DATABASE_URL": "postgresql+psycopg://touchline:touchline@postgres:5432/touchline",
    "TOUCHLINE_LOG_FORMAT": "json",
}


def _runs(command: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def _find_compose() -> list[str] | None:
    """The Compose v2 command line on this machine, if there is one."""
    docker = shutil.which("docker")
    if docker and _runs([docker, "compose", "version"]).returncode == 0:
        return [docker, "compose"]
    standalone = shutil.which("docker-compose")
    if standalone:
        version = _runs([standalone, "version", "--short"]).stdout.strip().lstrip("v")
        major = version.split(".", 1)[0]
        # Compose v1 (the Python one) knows neither `name:` nor `--format json`.
        if major.isdigit() and int(major) >= 2:
            return [standalone]
    return None


@pytest.fixture(scope="module")
def compose(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """``docker compose`` on the deployment file, shielded from the caller's settings."""
    command = _find_compose()
    if command is None:
        pytest.skip(
            "no Docker Compose v2: neither `docker compose` (the docker client's compose "
            "plugin) nor a v2 `docker-compose` binary is installed"
        )
    # An empty env file instead of a developer's .env, so defaults are what is read.
    env_file = tmp_path_factory.mktemp("compose") / "empty.env"
    env_file.write_text("")
    return [*command, "--file", str(COMPOSE_FILE), "--env-file", str(env_file)]


def _config(compose: list[str], *args: str, profiles: Sequence[str] = ()) -> str:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("COMPOSE_", "TOUCHLINE_"))
    }
    profile_flags = [flag for profile in profiles for flag in ("--profile", profile)]
    result = subprocess.run(
        [*compose, *profile_flags, "config", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "warn" not in result.stderr.lower(), result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def model(compose: list[str]) -> dict[str, Any]:
    """The whole project, every profile enabled, as Compose normalises it."""
    loaded: dict[str, Any] = json.loads(
        _config(compose, "--format", "json", profiles=LATER_PROFILES)
    )
    return loaded


def _service(model: dict[str, Any], name: str) -> dict[str, Any]:
    service: dict[str, Any] = model["services"][name]
    return service


def test_compose_file_is_valid(compose: list[str]) -> None:
    """`docker compose config --quiet` accepts the file, with every profile, without warnings."""
    assert _config(compose, "--quiet", profiles=LATER_PROFILES) == ""


def test_plain_up_starts_only_the_services_that_exist(compose: list[str]) -> None:
    """Without a profile Compose runs all: kafka, postgres, migrate, worker, api, adapters."""
    default = set(_config(compose, "--services").split())
    everything = set(_config(compose, "--services", profiles=LATER_PROFILES).split())
    assert default == {"kafka", "postgres", "migrate", "worker", "api", "adapters"}
    assert everything == default | set(LATER_PROFILES)


def test_touchline_services_run_the_touchline_image(model: dict[str, Any]) -> None:
    """Every touchline service is built from this repository into one image and runs its command."""
    images = set()
    for name, command in TOUCHLINE_COMMANDS.items():
        service = _service(model, name)
        assert service["command"] == command
        assert Path(service["build"]["context"]) == ROOT
        assert "entrypoint" not in service, "the image's ENTRYPOINT is `touchline`"
        images.add(service["image"])
    assert len(images) == 1


def test_every_touchline_service_gets_the_log_and_database_urls(model: dict[str, Any]) -> None:
    """Each touchline service reads Kafka, PostgreSQL and JSON logging from TOUCHLINE_*."""
    for name in TOUCHLINE_COMMANDS:
        environment = _service(model, name)["environment"]
        assert {key: environment.get(key) for key in TOUCHLINE_ENVIRONMENT} == (
            TOUCHLINE_ENVIRONMENT
        ), name


def test_database_url_matches_the_postgres_service(model: dict[str, Any]) -> None:
    """The URL's user, password and database are the ones the postgres service creates."""
    postgres = _service(model, "postgres")["environment"]
    user, password, database = (
        postgres["POSTGRES_USER"],
        postgres["POSTGRES_PASSWORD"],
        postgres["POSTGRES_DB"],
    )
    url = f"postgresql+psycopg://{user}:{password}@postgres:5432/{database}"
    assert url == TOUCHLINE_ENVIRONMENT["TOUCHLINE_DATABASE_URL"]


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_long_running_services_wait_for_kafka_and_the_migration(
    model: dict[str, Any], name: str
) -> None:
    """worker, api and adapters start after Kafka is healthy and `migrate` has succeeded."""
    depends_on = _service(model, name)["depends_on"]
    assert depends_on["kafka"]["condition"] == "service_healthy"
    assert depends_on["postgres"]["condition"] == "service_healthy"
    assert depends_on["migrate"]["condition"] == "service_completed_successfully"
    assert _service(model, name)["restart"] == "unless-stopped"


def test_migrate_runs_once_after_postgres_is_healthy(model: dict[str, Any]) -> None:
    """`migrate` waits for a healthy database and is not restarted once it has exited."""
    migrate = _service(model, "migrate")
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert migrate["restart"] == "no"


def test_postgres_and_kafka_have_real_healthchecks(model: dict[str, Any]) -> None:
    """postgres is probed over TCP with pg_isready; kafka answers a protocol request."""
    postgres = _service(model, "postgres")["healthcheck"]
    assert not postgres.get("disable", False)
    assert postgres["test"][:2] == ["CMD", "pg_isready"]
    assert "127.0.0.1" in postgres["test"], "a socket check passes during initdb"

    kafka = _service(model, "kafka")["healthcheck"]
    assert not kafka.get("disable", False)
    assert kafka["test"][:2] == ["CMD", "/opt/kafka/bin/kafka-broker-api-versions.sh"]
    assert "localhost:9092" in kafka["test"]


def test_kafka_is_one_kraft_node_advertised_on_the_compose_network(
    model: dict[str, Any],
) -> None:
    """One broker+controller whose listeners, quorum and advertised address agree."""
    env = _service(model, "kafka")["environment"]
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["CLUSTER_ID"]
    listeners = dict(entry.split("://", 1) for entry in env["KAFKA_LISTENERS"].split(","))
    protocols = dict(
        entry.split(":", 1) for entry in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")
    )
    controller = env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    assert set(listeners) <= set(protocols)
    assert controller in listeners
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] in listeners
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] != controller
    controller_port = listeners[controller].rsplit(":", 1)[1]
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == (
        f"{env['KAFKA_NODE_ID']}@kafka:{controller_port}"
    )
    log_url = TOUCHLINE_ENVIRONMENT["TOUCHLINE_LOG_URL"]
    assert env["KAFKA_ADVERTISED_LISTENERS"] == log_url.replace("kafka://", "PLAINTEXT://", 1)
    assert "CONTROLLER" not in env["KAFKA_ADVERTISED_LISTENERS"]
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    assert env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "1"


def test_kafka_and_postgres_keep_their_data_on_named_volumes(model: dict[str, Any]) -> None:
    """The broker's log.dirs and PostgreSQL's data directory are named volumes."""
    mounts = {
        name: {
            volume["target"]: volume["source"]
            for volume in _service(model, name)["volumes"]
            if volume["type"] == "volume"
        }
        for name in ("kafka", "postgres")
    }
    kafka_dirs = _service(model, "kafka")["environment"]["KAFKA_LOG_DIRS"]
    assert kafka_dirs in mounts["kafka"]
    assert "/var/lib/postgresql/data" in mounts["postgres"]
    named = {source for targets in mounts.values() for source in targets.values()}
    assert named <= set(model["volumes"])


def test_api_publishes_port_8000_with_a_health_check(model: dict[str, Any]) -> None:
    """The API is reachable on :8000 and Compose polls its readiness."""
    api = _service(model, "api")
    assert any(
        int(port["target"]) == 8000 and str(port.get("published")) == "8000"
        for port in api["ports"]
    )
    test = api["healthcheck"]["test"]
    assert test[0] == "CMD"
    assert "http://127.0.0.1:8000/readyz" in " ".join(test)


def _dockerfile_instructions() -> list[tuple[str, str]]:
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


def test_dockerfile_runs_touchline_as_a_non_root_user() -> None:
    """The image is python:3.11-slim, ends as a non-root user, and its entrypoint is touchline."""
    instructions = _dockerfile_instructions()
    assert ("FROM", "python:3.11-slim") in instructions
    users = [arguments for keyword, arguments in instructions if keyword == "USER"]
    assert users, "no USER: the processes would run as root"
    assert users[-1].split(":")[0] not in {"root", "0"}
    entrypoints = [arguments for keyword, arguments in instructions if keyword == "ENTRYPOINT"]
    assert json.loads(entrypoints[-1]) == ["touchline"]
