"""``idp demo`` run as a newcomer runs it (issue 14): a process on free ports with its own
instance folder, followed until it prints its sheet. Shared by the sheet's test and the
browser walk through the demo (tests/test_demo_sheet.py, tests/browser/test_browser_demo_run.py).
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.realservices import free_port

#: How long ``idp demo`` may take to print its sheet (database, keys, three servers).
START_TIMEOUT = 90
#: What the sheet's last line says: every server answers.
READY = "Ctrl-C stops all"


@dataclass
class DemoRun:
    """A running ``idp demo``: how it was started, its ports and what it printed."""

    command: list[str]
    env: dict[str, str]
    ports: list[int]
    output: str

    @property
    def urls(self) -> tuple[str, str, str]:
        """(provider, frontend, gateway)."""
        provider, frontend, gateway = (f"http://127.0.0.1:{port}" for port in self.ports)
        return provider, frontend, gateway


def read_until(process: subprocess.Popen[str], marker: str, limit: float) -> str:
    """``process``'s output until a line holding ``marker`` (or the deadline: then fail).

    A thread reads the lines: ``select`` on the pipe would miss lines already in the text
    wrapper's buffer (the sheet arrives in one write)."""
    assert process.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    stdout = process.stdout

    def pump() -> None:
        for line in stdout:
            lines.put(line)
        lines.put("")

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + limit
    output: list[str] = []
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        if not line:
            break
        output.append(line)
        if marker in line:
            return "".join(output)
    pytest.fail("idp demo did not print its sheet:\n" + "".join(output))


@contextmanager
def running_demo(tmp_path: Path) -> Iterator[DemoRun]:
    """``idp demo`` (``IDP_DEV``, SQLite, outboxes: none of the environment's services) on
    three free ports, from its sheet on until the block ends."""
    ports = [free_port() for _ in range(3)]
    env = {
        **os.environ,
        "IDP_DEV": "1",
        "IDP_INSTANCE_DIR": str(tmp_path / "instance"),
        "IDP_KEYS_DIR": str(tmp_path / "keys"),
        "IDP_ARGON2_MEMORY_KIB": "8192",
        "IDP_ARGON2_TIME_COST": "1",
        "PYTHONUNBUFFERED": "1",
    }
    for name in ("IDP_ISSUER", "IDP_DATABASE_URL", "IDP_REDIS_URL", "IDP_SMTP_URL"):
        env.pop(name, None)
    command = [sys.executable, "-m", "idp.cli", "demo", "--port", str(ports[0])]
    command += ["--frontend-port", str(ports[1]), "--gateway-port", str(ports[2])]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        output = read_until(process, READY, START_TIMEOUT)
        yield DemoRun(command, env, ports, output)
    finally:
        process.terminate()
        process.wait(15)
