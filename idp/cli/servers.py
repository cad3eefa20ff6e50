"""``idp serve`` (gunicorn, production settings) and ``idp demo``."""

from __future__ import annotations

from typing import Any

import click

from idp.cli.app import make_app

#: ``IDP_SHED_LIMIT`` of ``idp serve --worker-class gthread`` (unless set): requests in the
#: application at once per worker (bench/README.md, "Worker model and load shedding").
SERVE_SHED_LIMIT = 2
#: gunicorn's ``timeout``: a sync worker silent this long (in one request) is restarted.
#: Above the longest timeout of an upstream call (an upstream's ``timeout`` setting: 60 s at
#: most), so that a slow upstream is answered as such, never by killing the worker.
SERVE_WORKER_TIMEOUT = 120


#: Seconds a thread may hold the GIL while another waits for it (CPython's default: 5 ms).
#: In a sync worker the request thread shares the GIL with the background threads (the audit
#: sealer, the mail sender, the job sweep): at 5 ms, a request that met a seal run waited up
#: to 5 ms at every hand-over. In-process, grants paced at 400/s beside the sealer (SQLite,
#: 2026-12-03, a busy host, two runs each): p99 28–33 ms with the sealer, 13–15 ms without,
#: 10–15 ms with the sealer and 1 ms here; CPU per grant unchanged (1.18–1.20 ms).
WORKER_SWITCH_INTERVAL = 0.001


def tune_worker(worker: Any) -> None:
    """gunicorn's ``post_worker_init``, once the worker has built the app:

    - its start-up objects (modules, templates, catalogues, metadata: about 180,000, as long
      lived as the process) go to the collector's permanent generation (``gc.freeze``), so
      that a full collection during a request scans only what requests made: over them, one
      took 120–215 ms on this machine (a bench A/B on 2026-12-03 showed no clear change in
      CPU per grant or in the grants' p99: their tail comes from elsewhere);
    - the GIL's switch interval becomes :data:`WORKER_SWITCH_INTERVAL`.

    Logged once, as evidence, with the password hashes the worker runs at once
    (``IDP_HASH_CONCURRENCY``, which :func:`serve` sets from the cores and workers)."""
    import gc
    import logging
    import sys

    from idp import extensions

    gc.freeze()
    sys.setswitchinterval(WORKER_SWITCH_INTERVAL)
    logging.getLogger("idp.serve").info(
        "worker started: %d start-up objects kept out of garbage collection; "
        "GIL switch interval %.1f ms; %d password hashes at once",
        gc.get_freeze_count(),
        sys.getswitchinterval() * 1000,
        extensions.passwords.of(worker.wsgi).concurrency,
    )


def serve_hash_concurrency(workers: int, cores: int) -> int:
    """``IDP_HASH_CONCURRENCY`` of ``idp serve`` (unless set): password hashes at once per
    worker, so that all workers together hash on about as many threads as there are cores."""
    return max(1, round(cores / max(1, workers)))


@click.command()
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=8000, type=int)
@click.option("--workers", default=2, type=int)
@click.option(
    "--worker-class",
    type=click.Choice(["sync", "gthread"]),
    default="sync",
    show_default=True,
    help="sync: one request at a time per process, the cheapest per request; behind a "
    "buffering proxy (deploy/nginx), as slow clients hold a worker; a request that waited "
    "too long for one is answered 503 (IDP_SHED_BY_WAIT). gthread: threads per process, "
    "for serving without a proxy; a gate per worker sheds load (IDP_SHED_LIMIT).",
)
@click.option(
    "--threads",
    default=32,
    show_default=True,
    type=int,
    help="gthread: threads per worker, where admitted requests run and the others wait "
    "(more than IDP_SHED_LIMIT + IDP_SHED_QUEUE).",
)
@click.option(
    "--keepalive",
    default=75,
    show_default=True,
    type=int,
    help="gthread: seconds an idle keep-alive connection is kept; longer than a proxy's "
    "(nginx's upstream keepalive_timeout: 60 s), so the proxy closes it first.",
)
def serve(
    host: str, port: int, workers: int, worker_class: str, threads: int, keepalive: int
) -> None:
    """Run the provider under gunicorn (production settings)."""
    import os
    import shutil
    import tempfile

    # /metrics sums all workers (prometheus_client multiprocess mode); fresh at each start.
    # Set before prometheus_client is imported (idp.logs imports it): it picks its value
    # store at import.
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        metrics_dir = os.path.join(tempfile.gettempdir(), f"idp-metrics-{port}")
        shutil.rmtree(metrics_dir, ignore_errors=True)
        os.makedirs(metrics_dir)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir

    if worker_class == "gthread" and not os.environ.get("IDP_SHED_LIMIT"):
        os.environ["IDP_SHED_LIMIT"] = str(SERVE_SHED_LIMIT)
    if worker_class == "sync" and not os.environ.get("IDP_SHED_BY_WAIT"):
        os.environ["IDP_SHED_BY_WAIT"] = "1"
    if not os.environ.get("IDP_HASH_CONCURRENCY"):
        from idp.users.passwords import usable_cores

        os.environ["IDP_HASH_CONCURRENCY"] = str(serve_hash_concurrency(workers, usable_cores()))

    from gunicorn.app.base import BaseApplication

    from idp.logs import ACCESS_LOG_FORMAT
    from idp.logs import RedactingGunicornLogger

    class Server(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            # The sync worker that refuses late requests before reading them.
            classes = {"sync": "idp.admission.worker.SheddingSyncWorker", "gthread": "gthread"}
            self.cfg.set("worker_class", classes[worker_class])
            self.cfg.set("timeout", SERVE_WORKER_TIMEOUT)
            if worker_class == "gthread":
                self.cfg.set("threads", threads)
                self.cfg.set("keepalive", keepalive)
            self.cfg.set("accesslog", "-")
            self.cfg.set("access_log_format", ACCESS_LOG_FORMAT)
            # Request lines carry link tokens, codes and id_token_hint: redact them.
            self.cfg.set("logger_class", RedactingGunicornLogger)
            # No gunicornc control socket (gunicorn ≥ 25 opens one by default, at one path
            # per user: two nodes on a host would take each other's; and it is a management
            # interface — add workers, reload, stop — that we neither use nor need).
            self.cfg.set("control_socket_disable", True)
            self.cfg.set("post_worker_init", tune_worker)

        def load(self) -> Any:
            return make_app()

    Server().run()


@click.command()
@click.option("--port", default=8000, type=int)
@click.option("--frontend-port", default=8001, type=int)
@click.option("--gateway-port", default=8100, type=int, help="development line gateway (L9)")
@click.option("--reset", is_flag=True, help="demo passwords, locks and line notice restored")
def demo(port: int, frontend_port: int, gateway_port: int, reset: bool) -> None:
    """Start the provider, the demo storage frontend and a development line gateway with
    demo contracts and users; print the "try this" sheet (also at /dev/demo)."""
    from idp.demo.run import run_demo

    run_demo(port, frontend_port, gateway_port, reset=reset)


COMMANDS = [serve, demo]
