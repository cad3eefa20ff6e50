"""Load benchmark of the provider's whole flows, and the targets of issue 13.

Measures, against a provider running under gunicorn with production settings:

1. ``login``: full password sign-ins of a third-party client (authorization code + PKCE
   S256, consent page), each in its own cookie jar: GET /authorize (answered with the
   password page) -> POST /login (answered with the consent page) -> POST /login/consent
   (302 to the client) -> POST /token: four requests (bench/README.md, "Flows", for the
   redirects also taken);
2. ``totp_login``: the same with two-step verification by authenticator app (a contract
   with 2FA on, users enrolled once during setup);
3. ``refresh``: refresh-token grants with rotation, one chain per client thread;
4. ``client_credentials``: token grants of a service client (RFC 6749 §4.4);
5. ``login_trusted`` (only when asked for): ``login`` for a first-party client (no consent);
6. the ceiling: bare argon2id verifications per CPU-second with the server's parameters.

Then prints the targets of issue 13 with their ratios and the machine. Without ``--url`` it
provisions a throw-away instance per backend (``--backends sqlite,postgres``: SQLite, and a
private PostgreSQL + Redis), starts ``idp serve`` on a free port, measures, and stops it.
``--load`` adds the open-loop phases; ``--profile DIR`` samples the workers. See
bench/README.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# The repository's root, for tests/realservices.py (the private PostgreSQL and Redis).
sys.path.append(str(Path(__file__).resolve().parent.parent))

import requests  # noqa: E402
from loginbench.backends import BACKENDS  # noqa: E402
from loginbench.backends import Backend  # noqa: E402
from loginbench.backends import start_postgres_redis  # noqa: E402
from loginbench.ceiling import argon2_parameters  # noqa: E402
from loginbench.ceiling import argon2_verify_ceiling  # noqa: E402
from loginbench.flows import REDIRECT_URI  # noqa: E402
from loginbench.flows import ClientCredentialsWorker  # noqa: E402
from loginbench.flows import LoginWorker  # noqa: E402
from loginbench.flows import RefreshWorker  # noqa: E402
from loginbench.flows import Target  # noqa: E402
from loginbench.machine import describe  # noqa: E402
from loginbench.openloop import run_open_loop  # noqa: E402
from loginbench.profile import Profiler  # noqa: E402
from loginbench.report import CAVEAT  # noqa: E402
from loginbench.report import print_report  # noqa: E402
from loginbench.runner import MAX_ERROR_SAMPLES  # noqa: E402
from loginbench.runner import WARMUP_SECONDS  # noqa: E402
from loginbench.runner import PhaseResult  # noqa: E402
from loginbench.runner import run_phase  # noqa: E402
from loginbench.server import LocalServer  # noqa: E402
from loginbench.server import command_seconds  # noqa: E402
from loginbench.steps import TIMEOUT  # noqa: E402
from loginbench.targets import ARRIVALS  # noqa: E402
from loginbench.targets import LOAD_SHARE  # noqa: E402
from loginbench.targets import OVERLOAD  # noqa: E402
from loginbench.targets import targets  # noqa: E402
from loginbench.totp import TotpLoginWorker  # noqa: E402
from loginbench.totp import TotpPool  # noqa: E402
from loginbench.totp import enroll_totp_users  # noqa: E402

FLOWS = ("login", "totp_login", "refresh", "client_credentials", "login_trusted")
DEFAULT_FLOWS = ("login", "totp_login", "refresh", "client_credentials")
#: The flows the load mode drives open loop (totp_login's user pool caps its rate).
LOAD_FLOWS = ("login", "refresh", "client_credentials")


def parse_args() -> argparse.Namespace:
    cores = os.cpu_count() or 1
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="Measure a running provider (else start a local one).")
    parser.add_argument("--duration", type=float, default=15.0, help="Seconds per flow.")
    parser.add_argument("--concurrency", type=int, default=2 * cores, help="Client threads.")
    parser.add_argument("--workers", type=int, default=cores, help="gunicorn workers (local).")
    parser.add_argument(
        "--serve-args",
        default="",
        help="More arguments of the local `idp serve`, e.g. '--worker-class gthread "
        "--threads 16' (default: idp serve's own, sync workers).",
    )
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="IDP_NAME=VALUE",
        help="A setting of the local server (repeatable), e.g. IDP_SHED_LIMIT=1; the shell's "
        "IDP_* are not passed.",
    )
    parser.add_argument(
        "--cores",
        type=int,
        default=cores,
        help="Cores to divide by (the server machine's; default this one's).",
    )
    parser.add_argument("--users", type=int, default=20, help="Users provisioned (local).")
    parser.add_argument(
        "--totp-users",
        type=int,
        default=400,
        help="Users with an authenticator app for totp_login (local; each signs in about "
        "once per 30-s TOTP step).",
    )
    parser.add_argument(
        "--backends",
        default="sqlite",
        help="Comma-separated: sqlite (SQLite + SQL store), postgres (a private PostgreSQL + "
        "redis-server started for the run). Local only.",
    )
    parser.add_argument("--database-url", help="IDP_DATABASE_URL for the local server.")
    parser.add_argument("--redis-url", help="IDP_REDIS_URL for the local server.")
    parser.add_argument("--client-id", help="With --url: a relying party (prompt=consent).")
    parser.add_argument("--client-secret")
    parser.add_argument("--service-client-id", help="With --url: a client_credentials client.")
    parser.add_argument("--service-client-secret")
    parser.add_argument(
        "--email", action="append", help="With --url; repeat to spread logins over several users."
    )
    parser.add_argument("--password")
    parser.add_argument("--redirect-uri", default=REDIRECT_URI)
    parser.add_argument("--scope", default="openid profile email")
    parser.add_argument("--argon2-seconds", type=float, default=5.0)
    parser.add_argument(
        "--flows",
        help=f"Comma-separated subset of {','.join(FLOWS)} (default: all but login_trusted; "
        "with --url login,refresh and client_credentials when its client is given).",
    )
    parser.add_argument(
        "--load",
        action="store_true",
        help=f"Open-loop phases per flow of {','.join(LOAD_FLOWS)}: "
        f"{LOAD_SHARE * 100:.0f} %% of the closed loop's rate for --load-seconds, "
        f"then {OVERLOAD:g}x for --overload-seconds.",
    )
    parser.add_argument("--load-seconds", type=float, default=30.0)
    parser.add_argument("--overload-seconds", type=float, default=60.0)
    parser.add_argument(
        "--load-threads",
        type=int,
        default=128,
        help="Client threads of the open loop, spread over --load-processes: the flows in "
        "flight at most. More than the server admits and queues (workers x (IDP_SHED_LIMIT + "
        "IDP_SHED_QUEUE) = 52 by default), or the client's threads become the queue at 2x.",
    )
    parser.add_argument(
        "--load-processes",
        type=int,
        default=cores,
        help="Client processes of the open loop (each its own threads and GIL).",
    )
    parser.add_argument(
        "--arrivals",
        default="poisson",
        help="Arrival process of the open loop: poisson (independent users), uniform "
        "(evenly spaced, as wrk2 and k6's constant-arrival-rate), or poisson,uniform: a "
        f"{LOAD_SHARE * 100:.0f} %% phase with each; the first one also drives the "
        f"{OVERLOAD:g}x phase.",
    )
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="py-spy on every worker during each measured window: DIR/<backend>/<flow>.svg, "
        "<flow>-top.txt, <flow>.collapsed.",
    )
    parser.add_argument("--no-cli", action="store_true", help="Skip timing the idp command.")
    parser.add_argument("--json", metavar="PATH", help="Also write the JSON line to PATH.")
    parser.add_argument("--keep", action="store_true", help="Keep the local instance folder.")
    args = parser.parse_args()
    if args.flows is None:
        remote = ["login", "refresh"] + (["client_credentials"] if args.service_client_id else [])
        args.flows = ",".join(remote) if args.url else ",".join(DEFAULT_FLOWS)
    args.flow_list = [f.strip() for f in args.flows.split(",") if f.strip()]
    unknown = set(args.flow_list) - set(FLOWS)
    if unknown:
        parser.error(f"unknown flows: {', '.join(sorted(unknown))}")
    args.arrival_list = [a.strip() for a in args.arrivals.split(",") if a.strip()]
    if not args.arrival_list or set(args.arrival_list) - set(ARRIVALS):
        parser.error(f"--arrivals takes {', '.join(ARRIVALS)} or both, comma-separated")
    if args.load_processes < 1 or args.load_threads < args.load_processes:
        parser.error("--load-processes must be 1 or more, and at most --load-threads")
    args.backend_list = [b.strip() for b in args.backends.split(",") if b.strip()]
    if set(args.backend_list) - set(BACKENDS) or not args.backend_list:
        parser.error(f"--backends takes {','.join(BACKENDS)}")
    if (args.database_url or args.redis_url) and args.backends != "sqlite":
        parser.error("--database-url/--redis-url replace --backends")
    if args.url and ("totp_login" in args.flow_list or "login_trusted" in args.flow_list):
        parser.error("totp_login and login_trusted need the local instance")
    if "totp_login" in args.flow_list and args.totp_users < 1:
        parser.error("totp_login needs --totp-users of at least 1")
    if args.url:
        missing = [
            o for o in ("client_id", "client_secret", "email", "password") if not getattr(args, o)
        ]
        if "client_credentials" in args.flow_list and not args.service_client_secret:
            missing.append("service_client_id/secret")
        if missing:
            parser.error("--url needs " + ", ".join("--" + m.replace("_", "-") for m in missing))
        args.url = args.url.rstrip("/")
    return args


def pool_of(pool: TotpPool | None) -> TotpPool:
    if pool is None:
        raise RuntimeError("totp_login without enrolled users")
    return pool


def print_errors(result: PhaseResult, into: dict[str, Any]) -> None:
    if result.setup_errors:
        into["setup_errors"] = len(result.setup_errors)
        print(f"  {len(result.setup_errors)} thread setups failed, first: {result.setup_errors[0]}")
    if result.errors:
        into["error_kinds"] = dict(result.error_kinds)
        print(f"  {result.errors} errors {dict(result.error_kinds)}; first ones:")
        for sample in result.error_samples:
            print(f"    {sample}")


class Run:
    """One backend's measurements: its server (local) or the remote target, its flows."""

    def __init__(self, args: argparse.Namespace, backend: Backend | None) -> None:
        self.args = args
        self.backend = backend
        self.server: LocalServer | None = None
        self.totp_pool: TotpPool | None = None
        self.trusted: Target | None = None
        self.out: dict[str, Any] = {"flows": {}}
        self.failed = False

    def prepare(self) -> Target:
        args = self.args
        if args.url:
            issuer = requests.get(
                args.url + "/.well-known/openid-configuration", timeout=TIMEOUT
            ).json()["issuer"]
            return Target(
                args.url,
                issuer,
                args.client_id,
                args.client_secret,
                args.redirect_uri,
                args.scope,
                [(e, args.password) for e in args.email],
                prompt_consent=True,
                service_client_id=args.service_client_id or "",
                service_client_secret=args.service_client_secret or "",
            )
        assert self.backend is not None
        server = self.server = LocalServer(args, self.backend.database_url, self.backend.redis_url)
        totp_wanted = args.totp_users if "totp_login" in args.flow_list else 0
        print(
            f"[{self.backend.label}] provisioning {args.users} users and {totp_wanted} 2FA "
            f"users in {server.dir} ...",
            flush=True,
        )
        started = time.perf_counter()
        target, totp_users = server.provision(args.users, totp_wanted)
        self.trusted = dataclasses.replace(
            target,
            client_id=server.trusted_client[0],
            client_secret=server.trusted_client[1],
            consent=False,
        )
        print(f"  {time.perf_counter() - started:.1f} s", flush=True)
        print(f"starting idp serve on {server.url} with {args.workers} workers ...", flush=True)
        server.start(args.workers)
        if totp_users:
            print(f"enrolling {len(totp_users)} authenticator apps through HTTP ...", flush=True)
            started = time.perf_counter()
            refused = enroll_totp_users(target, totp_users, args.concurrency)
            print(f"  {time.perf_counter() - started:.1f} s", flush=True)
            if refused:
                self.out["totp_enrollment_errors"] = len(refused)
                self.failed = True
                print(f"  {len(refused)} enrollments failed, first ones:")
                for sample in refused[:MAX_ERROR_SAMPLES]:
                    print(f"    {sample}")
            if not totp_users:
                raise SystemExit("no authenticator app could be enrolled")
            self.totp_pool = TotpPool(totp_users)
        return target

    @property
    def server_pid(self) -> int | None:
        return self.server.process.pid if self.server and self.server.process else None

    def measure(self, target: Target) -> None:
        args = self.args
        workers: dict[str, Callable[[], Any]] = {
            "login": lambda: LoginWorker(target),
            "totp_login": lambda: TotpLoginWorker(target, pool_of(self.totp_pool)),
            "refresh": lambda: RefreshWorker(target),
            "client_credentials": lambda: ClientCredentialsWorker(target),
            "login_trusted": lambda: LoginWorker(self.trusted or target),
        }
        label = self.backend.label if self.backend else "remote"
        profiler = Profiler(Path(args.profile) / label) if args.profile else None
        services = self.backend.service_pids if self.backend else []
        for name in args.flow_list:
            print(
                f"[{label}] measuring {name}: {WARMUP_SECONDS:.0f} s warm-up + "
                f"{args.duration:g} s with {args.concurrency} threads ...",
                flush=True,
            )
            result = run_phase(
                name,
                workers[name],
                args.concurrency,
                args.duration,
                self.server_pid,
                services,
                profiler,
            )
            flow = self.out["flows"][name] = result.summary(args.cores)
            if profiler is not None:
                flow["profile"] = profiler.finish()
            if name == "totp_login" and self.totp_pool:
                flow["totp_users"] = len(self.totp_pool.users)
                flow["user_pool_waits"] = self.totp_pool.waits
                if self.totp_pool.waits:
                    print(
                        f"  NOTE: {self.totp_pool.waits} flows waited for a user with an unused "
                        "TOTP step; the user pool limited the rate (raise --totp-users)."
                    )
            print_errors(result, flow)
            self.failed |= bool(result.errors or result.setup_errors)
        if args.load:
            self.out["load"] = {}
            for name in (f for f in args.flow_list if f in LOAD_FLOWS):
                self.out["load"][name] = self.load(name, workers[name], label, services)

    def load(
        self, name: str, make_worker: Callable[[], Any], label: str, services: list[int]
    ) -> dict[str, Any]:
        """The closed loop's rate is the saturating one; then open loop at 80 % and at 2x."""
        args = self.args
        saturation = self.out["flows"][name]["per_second"]
        out: dict[str, Any] = {
            "saturation_per_second": saturation,
            "overload_seconds": args.overload_seconds,
        }
        phases = [
            ("at_80_percent", arrivals, LOAD_SHARE, args.load_seconds)
            for arrivals in args.arrival_list
        ]
        phases.append(("at_2x", args.arrival_list[0], OVERLOAD, args.overload_seconds))
        for phase, arrivals, share, seconds in phases:
            rate = saturation * share
            print(
                f"[{label}] load {name}: {rate:.1f}/s open loop, {arrivals} arrivals, for "
                f"{seconds:g} s ({args.load_threads} client threads in {args.load_processes} "
                "processes) ...",
                flush=True,
            )
            result = run_open_loop(
                name,
                make_worker,
                rate,
                seconds,
                args.load_threads,
                self.server_pid,
                services,
                processes=args.load_processes,
                arrivals=arrivals,
            )
            summary = {"arrivals": arrivals, **result.summary(args.cores)}
            print_errors(result, summary)
            if phase == "at_2x":
                out[phase] = summary
            else:
                out.setdefault(phase, {})[arrivals] = summary
        return out

    def time_cli(self) -> dict[str, Any]:
        assert self.server is not None
        command = ["lines", "list", "--contract", self.server.contract_id]
        print("timing the idp command (5 runs each) ...", flush=True)
        return {
            "help_s": command_seconds(self.server, ["--help"]),
            "command": " ".join(command[:2]),
            "command_s": command_seconds(self.server, command),
        }

    def close(self) -> None:
        server = self.server
        if server is None:
            return
        server.stop()
        logged = server.server_errors()
        if logged:
            self.out["server_log_errors"] = logged
            print("server log error lines (first ones):")
            for line in logged[:10]:
                print(f"    {line}")
        server.cleanup()


def backend_for(args: argparse.Namespace, name: str) -> Backend | None:
    """The remote provider (None), the given URLs, SQLite, or a private PostgreSQL + Redis."""
    if args.url:
        return None
    if args.database_url or args.redis_url:
        return Backend("custom", args.database_url, args.redis_url)
    if name == "postgres":
        print("starting a private PostgreSQL and redis-server ...", flush=True)
        return start_postgres_redis()
    return Backend(name)


def main() -> int:
    args = parse_args()
    params = argon2_parameters()
    report: dict[str, Any] = {
        "machine": describe(args.cores),
        "settings": {
            "workers": None if args.url else args.workers,
            "serve_args": None if args.url else args.serve_args,
            "server_env": None if args.url else args.server_env,
            "concurrency": args.concurrency,
            "duration_s": args.duration,
            "scope": args.scope,
            "argon2": params,
            "profile": bool(args.profile),
            "load": args.load,
            "arrivals": args.arrival_list if args.load else None,
            "load_threads": args.load_threads if args.load else None,
            "load_processes": args.load_processes if args.load else None,
        },
        "backends": {},
        "caveat": CAVEAT,
    }
    failed = False
    for name in [None] if args.url else args.backend_list:
        backend = backend_for(args, name or "")
        run = Run(args, backend)
        try:
            target = run.prepare()
            run.measure(target)
            if run.server and not args.no_cli and "cli" not in report:
                report["cli"] = run.time_cli()
        finally:
            run.close()
            if backend is not None:
                backend.stop()
        report["backends"][backend.label if backend else "remote"] = run.out
        failed |= run.failed

    local_cores = report["machine"]["local_cores"]
    print(
        f"measuring argon2id verify: {local_cores} processes x {args.argon2_seconds:g} s ...",
        flush=True,
    )
    ceiling = argon2_verify_ceiling(params, local_cores, args.argon2_seconds)
    report["argon2"] = {
        "processes": local_cores,
        "cpu_ms_per_verification": round(ceiling.cpu_ms, 2),
        "verifications_per_cpu_second": round(ceiling.per_cpu_second, 2),
        "per_core_per_second": round(ceiling.per_core, 2),
    }
    report["flows"] = next(iter(report["backends"].values()))["flows"]
    report["targets"] = targets(report)
    print_report(report)
    line = json.dumps(report, separators=(",", ":"), ensure_ascii=False)
    print(line)
    if args.json:
        Path(args.json).write_text(line + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
