"""Helpers of the operations tests: ``idp serve`` (gunicorn) as a subprocess over a provider's
database, and reading Prometheus samples from ``/metrics``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Provider


def metric_samples(url: str, **headers: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of ``url``/metrics: (name, labels) -> value."""
    response = requests.get(f"{url}/metrics", headers=headers, timeout=10)
    assert response.status_code == 200, response.status_code
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def sample(samples: dict[Any, float], name: str, **labels: str) -> float:
    """The value of one sample (0 when the series does not exist yet)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def serve_env(provider: Provider, metrics_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of ``idp serve`` over ``provider``'s database, keys and secrets."""
    settings = provider.app.extensions["idp.settings"]
    metrics_dir.mkdir(parents=True, exist_ok=True)
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("IDP_")},
        "IDP_ISSUER": settings.issuer,
        "IDP_DATABASE_URL": provider.app.config["SQLALCHEMY_DATABASE_URI"],
        "IDP_INSTANCE_DIR": settings.instance_dir,
        "IDP_KEYS_DIR": settings.keys_dir,
        "IDP_SECRET_KEY": settings.secret_key,
        "IDP_ENCRYPTION_KEY": settings.encryption_key,
        "IDP_SMTP_URL": settings.smtp_url,
        "IDP_ARGON2_MEMORY_KIB": str(settings.argon2_memory_kib),
        "IDP_ARGON2_TIME_COST": str(settings.argon2_time_cost),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        **extra,
    }


@contextmanager
def idp_serve(
    provider: Provider, tmp: Path, workers: int = 2, worker_class: str = "sync", **extra: str
) -> Iterator[tuple[str, Path]]:
    """``idp serve`` on the provider's port; yields its URL and the file of its output."""
    port = provider.app.config["TEST_PORT"]
    log_path = tmp / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "idp.cli", "serve", "--host", "127.0.0.1"]
            + ["--port", str(port), "--workers", str(workers), "--worker-class", worker_class],
            env=serve_env(provider, tmp / "metrics", **extra),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        _wait_healthy(provider.url, process, log_path)
        yield provider.url, log_path
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    """Readiness, not a clock: poll until gunicorn answers (or the process dies)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"idp serve exited:\n{log_path.read_text(errors='replace')}")
        try:
            if requests.get(url + "/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise AssertionError(f"idp serve did not become healthy:\n{log_path.read_text()}")
