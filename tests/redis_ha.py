"""Redis Sentinel and Redis Cluster for the tests (issue 13, "Several nodes": growing past one
Redis is configuration, not code).

Real ``redis-server`` processes on free ports in temp dirs, without persistence, as
:class:`tests.realservices.RedisServer` starts one:

* :class:`SentinelSetup` -- a master, one replica and three sentinels (quorum 2) that fail
  over within about a second of the master going down (``down-after-milliseconds`` 400).
* :class:`ClusterSetup` -- three masters (``--cluster-enabled yes``) joined by
  ``redis-cli --cluster create``, each serving a third of the 16384 hash slots.

Session fixtures ``redis_sentinel`` and ``redis_cluster`` start one of each on first use; a
test that stops a server (the failover) starts its own :class:`SentinelSetup`. Readiness is
polled with a deadline, never waited for by sleeping a fixed time.
"""

from __future__ import annotations

import atexit
import os
import random
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.realservices import LOCALHOST
from tests.realservices import ServiceError
from tests.realservices import _find_redis_server
from tests.realservices import _tail
from tests.realservices import free_port

#: The name the sentinels monitor the master by (the URL's service name).
SERVICE = "idp-master"
#: Redis Cluster's bus listens on the port + 10000: cluster ports come from below the
#: kernel's ephemeral range (32768 and up), so that both are free and stay below 65536.
CLUSTER_PORTS = (20000, 30000)


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds; :class:`ServiceError` naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except (redis.RedisError, OSError):
            pass
        time.sleep(0.05)
    raise ServiceError(f"{what} within {timeout}s")


def _is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((LOCALHOST, port))
        except OSError:
            return False
    return True


def cluster_port() -> int:
    """A port free now whose cluster-bus port (+10000) is free too."""
    for _ in range(200):
        port = random.randint(*CLUSTER_PORTS)
        if _is_free(port) and _is_free(port + 10000):
            return port
    raise ServiceError("no free port pair for a Redis Cluster node")


class RedisNode:
    """One ``redis-server`` process (a data node or a sentinel) in its own directory."""

    def __init__(
        self, base_dir: Path, name: str, port: int, args: list[str], password: str | None = None
    ) -> None:
        self.dir = base_dir / name
        self.dir.mkdir(parents=True)
        self.port = port
        self.password = password
        self._args = args
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def log_file(self) -> Path:
        return self.dir / "redis.log"

    def start(self) -> RedisNode:
        with self.log_file.open("ab") as log:
            self._proc = subprocess.Popen(
                [_find_redis_server(), *self._args],
                cwd=self.dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                raise ServiceError(
                    f"redis-server exited on port {self.port}:\n{_tail(self.log_file)}"
                )
            if _answers(self.port):
                return
            time.sleep(0.05)
        raise ServiceError(f"redis-server did not answer PING on port {self.port}")

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: the server dies as in a crash (no shutdown, no last sync to replicas)."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def client(self) -> redis.Redis:
        return redis.Redis(
            host=LOCALHOST, port=self.port, password=self.password, decode_responses=True
        )


def _answers(port: int) -> bool:
    """The server on ``port`` answers PING: PONG, or "authenticate first" when it has a
    password."""
    try:
        with socket.create_connection((LOCALHOST, port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


def _data_args(port: int, base: Path, password: str) -> list[str]:
    return [
        # Data nodes have a password, as in production; sentinels have none.
        "--requirepass",
        password,
        "--masterauth",
        password,
        "--port",
        str(port),
        "--bind",
        LOCALHOST,
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
        "--dir",
        str(base),
        # A replica syncs at once (the default waits 5 s for more replicas to share a sync).
        "--repl-diskless-sync-delay",
        "0",
    ]


class _Setup:
    def __init__(self, prefix: str) -> None:
        self.base_dir = Path(tempfile.mkdtemp(prefix=prefix))
        self.nodes: list[RedisNode] = []
        #: The data nodes' password (``requirepass``); the URLs carry it.
        self.password = secrets.token_urlsafe(12)
        atexit.register(self.stop)

    def _data_node(self, name: str, port: int, *extra: str) -> RedisNode:
        args = [*_data_args(port, self.base_dir / name, self.password), *extra]
        node = RedisNode(self.base_dir, name, port, args, self.password)
        self.nodes.append(node)
        return node.start()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        self.nodes = []
        shutil.rmtree(self.base_dir, ignore_errors=True)


class SentinelSetup(_Setup):
    """One master, one replica and three sentinels monitoring them as :data:`SERVICE`."""

    def __init__(self) -> None:
        super().__init__("test-redis-sentinel-")
        self.master: RedisNode | None = None
        self.replica: RedisNode | None = None
        self.sentinels: list[RedisNode] = []

    def start(self) -> SentinelSetup:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        master_port = free_port()
        self.master = self._data_node("master", master_port)
        replica_port = free_port()
        self.replica = self._data_node(
            "replica", replica_port, "--replicaof", LOCALHOST, str(master_port)
        )
        self.master.wait_ready()
        self.replica.wait_ready()
        with self.replica.client() as replica:
            wait_for(
                lambda: replica.info("replication")["master_link_status"] == "up",
                15,
                "the replica did not sync with the master",
            )
        ports = [free_port() for _ in range(3)]
        ids = [secrets.token_hex(20) for _ in ports]
        for index, port in enumerate(ports):
            node = RedisNode(self.base_dir, f"sentinel{index}", port, [])
            # Each sentinel is told its peers and the replica up front (the lines a sentinel
            # writes to its own file once it has discovered them), so that a failover can be
            # authorised (quorum 2 of 3) at once instead of after seconds of discovery.
            peers = "".join(
                f"sentinel known-sentinel {SERVICE} {LOCALHOST} {other} {ids[j]}\n"
                for j, other in enumerate(ports)
                if j != index
            )
            conf = node.dir / "sentinel.conf"
            conf.write_text(
                f"port {port}\n"
                f"bind {LOCALHOST}\n"
                f"dir {node.dir}\n"
                f"sentinel myid {ids[index]}\n"
                f"sentinel monitor {SERVICE} {LOCALHOST} {master_port} 2\n"
                f"sentinel down-after-milliseconds {SERVICE} 400\n"
                f"sentinel failover-timeout {SERVICE} 4000\n"
                f"sentinel parallel-syncs {SERVICE} 1\n"
                f"sentinel auth-pass {SERVICE} {self.password}\n"
                f"sentinel known-replica {SERVICE} {LOCALHOST} {replica_port}\n"
                f"{peers}"
            )
            node._args = [str(conf), "--sentinel"]
            self.nodes.append(node)
            self.sentinels.append(node.start())
        for node in self.sentinels:
            node.wait_ready()
            with node.client() as sentinel:
                wait_for(
                    lambda s=sentinel: _knows_all(s.sentinel_master(SERVICE)),
                    20,
                    "the sentinels did not discover each other and the replica",
                )

    def url(self, db: int = 0) -> str:
        hosts = ",".join(f"{LOCALHOST}:{node.port}" for node in self.sentinels)
        return f"redis+sentinel://:{self.password}@{hosts}/{SERVICE}/{db}"

    def master_port(self) -> int:
        """The master's port as the sentinels name it now."""
        for node in self.sentinels:
            if not node.running:
                continue
            with node.client() as sentinel:
                _host, port = sentinel.execute_command(
                    "SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE
                )
                return int(port)
        raise ServiceError("no sentinel is running")


def _knows_all(master: dict[str, object]) -> bool:
    """A sentinel's view of the master names the replica and the two other sentinels."""
    return master["num-slaves"] == 1 and master["num-other-sentinels"] == 2


class ClusterSetup(_Setup):
    """Three masters, no replicas, every hash slot covered."""

    def __init__(self) -> None:
        super().__init__("test-redis-cluster-")

    def start(self) -> ClusterSetup:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        for index in range(3):
            port = cluster_port()
            self._data_node(
                f"node{index}",
                port,
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                "2000",
            )
        for node in self.nodes:
            node.wait_ready()
        result = subprocess.run(
            [
                shutil.which("redis-cli") or "/usr/bin/redis-cli",
                "--cluster",
                "create",
                *(f"{LOCALHOST}:{node.port}" for node in self.nodes),
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={**os.environ, "REDISCLI_AUTH": self.password},
        )
        if result.returncode != 0:
            raise ServiceError(
                f"redis-cli --cluster create failed:\n{result.stdout}{result.stderr}"
            )
        for node in self.nodes:
            with node.client() as client:
                wait_for(
                    lambda c=client: c.cluster("info")["cluster_state"] == "ok",
                    20,
                    f"cluster node {node.port} did not report cluster_state:ok",
                )

    def url(self) -> str:
        hosts = ",".join(f"{LOCALHOST}:{node.port}" for node in self.nodes)
        return f"redis+cluster://:{self.password}@{hosts}"


def _started(setup: SentinelSetup | ClusterSetup) -> Iterator[SentinelSetup | ClusterSetup]:
    try:
        setup.start()
    except ServiceError as exc:
        pytest.fail(f"cannot start {type(setup).__name__} for the tests: {exc}", pytrace=False)
    try:
        yield setup
    finally:
        setup.stop()


@pytest.fixture(scope="session")
def redis_sentinel() -> Iterator[SentinelSetup | ClusterSetup]:
    """A Sentinel-managed Redis for the whole session (not to be stopped by a test)."""
    yield from _started(SentinelSetup())


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[SentinelSetup | ClusterSetup]:
    """A three-master Redis Cluster for the whole session."""
    yield from _started(ClusterSetup())
