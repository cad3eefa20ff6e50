"""Load benchmark of the provider's whole flows, beside the argon2id ceiling.

Measures, against a provider running under gunicorn with production settings:

1. ``login``: full password logins (authorization code + PKCE S256), each in its own cookie
   jar: GET /authorize -> GET /login -> POST /login -> GET /login/finish -> POST /token;
2. ``totp_login``: the same with two-step verification by authenticator app (a contract
   with 2FA on, users enrolled once during setup): ... -> POST /login -> GET /login/2fa ->
   GET /login/2fa/app -> POST /login/2fa/app (TOTP code) -> GET /login/finish -> POST /token;
3. ``refresh``: refresh-token grants with rotation, one chain per client thread;
4. ``argon2``: bare argon2id hashes per second per core with the server's parameters
   (one process per core), the ceiling a password login cannot beat.

Without ``--url`` it provisions a throw-away instance (SQLite by default), starts
``idp serve`` on a free port, measures, and stops it. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from loginbench.ceiling import argon2_parameters
from loginbench.ceiling import argon2_rate_per_core
from loginbench.flows import REDIRECT_URI
from loginbench.flows import LoginWorker
from loginbench.flows import RefreshWorker
from loginbench.flows import Target
from loginbench.machine import background_cpu_cores
from loginbench.machine import cpu_model
from loginbench.report import CAVEAT
from loginbench.report import backend_label
from loginbench.report import print_table
from loginbench.runner import MAX_ERROR_SAMPLES
from loginbench.runner import WARMUP_SECONDS
from loginbench.runner import run_phase
from loginbench.server import LocalServer
from loginbench.steps import TIMEOUT
from loginbench.totp import TotpLoginWorker
from loginbench.totp import TotpPool
from loginbench.totp import enroll_totp_users

FLOWS = ("login", "totp_login", "refresh")


def parse_args() -> argparse.Namespace:
    cores = os.cpu_count() or 1
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="Measure a running provider (else start a local one).")
    parser.add_argument("--duration", type=float, default=15.0, help="Seconds per flow.")
    parser.add_argument("--concurrency", type=int, default=2 * cores, help="Client threads.")
    parser.add_argument("--workers", type=int, default=cores, help="gunicorn workers (local).")
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
    parser.add_argument("--database-url", help="IDP_DATABASE_URL for the local server.")
    parser.add_argument("--redis-url", help="IDP_REDIS_URL for the local server.")
    parser.add_argument("--client-id")
    parser.add_argument("--client-secret")
    parser.add_argument(
        "--email", action="append", help="With --url; repeat to spread logins over several users."
    )
    parser.add_argument("--password")
    parser.add_argument("--redirect-uri", default=REDIRECT_URI)
    parser.add_argument("--scope", default="openid profile email")
    parser.add_argument("--argon2-seconds", type=float, default=5.0)
    parser.add_argument(
        "--flows",
        help="Comma-separated subset of login,totp_login,refresh (default: all; with --url "
        "login,refresh).",
    )
    parser.add_argument("--json", metavar="PATH", help="Also write the JSON line to PATH.")
    parser.add_argument("--keep", action="store_true", help="Keep the local instance folder.")
    args = parser.parse_args()
    if args.flows is None:
        args.flows = "login,refresh" if args.url else ",".join(FLOWS)
    flows = {f.strip() for f in args.flows.split(",")} - {""}
    unknown = flows - set(FLOWS)
    if unknown:
        parser.error(f"unknown flows: {', '.join(sorted(unknown))}")
    if args.url and "totp_login" in flows:
        parser.error("totp_login needs the local instance (its users are enrolled in setup)")
    if "totp_login" in flows and args.totp_users < 1:
        parser.error("totp_login needs --totp-users of at least 1")
    if args.url:
        missing = [
            o for o in ("client_id", "client_secret", "email", "password") if not getattr(args, o)
        ]
        if missing:
            parser.error("--url needs " + ", ".join("--" + m.replace("_", "-") for m in missing))
        args.url = args.url.rstrip("/")
    return args


def pool_of(pool: TotpPool | None) -> TotpPool:
    if pool is None:
        raise RuntimeError("totp_login without enrolled users")
    return pool


def main() -> int:
    args = parse_args()
    cores = args.cores
    server: LocalServer | None = None
    flows = [f.strip() for f in args.flows.split(",") if f.strip()]
    report: dict[str, Any] = {
        "machine": {
            "cpu_model": cpu_model(),
            "cores": cores,
            "local_cores": os.cpu_count() or 1,
            "python": platform.python_version(),
            "background_cpu_cores": background_cpu_cores(),
        },
        "settings": {
            "workers": None if args.url else args.workers,
            "concurrency": args.concurrency,
            "backend": backend_label(args),
            "duration_s": args.duration,
            "scope": args.scope,
            "argon2": argon2_parameters(),
        },
        "flows": {},
        "caveat": CAVEAT,
    }
    server_pid: int | None = None
    totp_pool: TotpPool | None = None
    try:
        if args.url:
            issuer = requests.get(
                args.url + "/.well-known/openid-configuration", timeout=TIMEOUT
            ).json()["issuer"]
            target = Target(
                args.url,
                issuer,
                args.client_id,
                args.client_secret,
                args.redirect_uri,
                args.scope,
                [(e, args.password) for e in args.email],
            )
        else:
            server = LocalServer(args)
            totp_wanted = args.totp_users if "totp_login" in flows else 0
            print(
                f"provisioning {args.users} users and {totp_wanted} 2FA users in {server.dir} ...",
                flush=True,
            )
            started = time.perf_counter()
            target, totp_users = server.provision(args.users, totp_wanted)
            print(f"  {time.perf_counter() - started:.1f} s", flush=True)
            print(f"starting idp serve on {server.url} with {args.workers} workers ...", flush=True)
            server.start(args.workers)
            server_pid = server.process.pid if server.process else None
            if totp_users:
                print(
                    f"enrolling {len(totp_users)} authenticator apps through HTTP ...", flush=True
                )
                started = time.perf_counter()
                refused = enroll_totp_users(target, totp_users, args.concurrency)
                print(f"  {time.perf_counter() - started:.1f} s", flush=True)
                if refused:
                    report["totp_enrollment_errors"] = len(refused)
                    print(f"  {len(refused)} enrollments failed, first ones:")
                    for sample in refused[:MAX_ERROR_SAMPLES]:
                        print(f"    {sample}")
                if not totp_users:
                    raise SystemExit("no authenticator app could be enrolled")
                totp_pool = TotpPool(totp_users)

        workers: dict[str, Callable[[], Any]] = {
            "login": lambda: LoginWorker(target),
            "totp_login": lambda: TotpLoginWorker(target, pool_of(totp_pool)),
            "refresh": lambda: RefreshWorker(target),
        }
        for name in flows:
            print(
                f"measuring {name}: {WARMUP_SECONDS:.0f} s warm-up + {args.duration:g} s "
                f"with {args.concurrency} threads ...",
                flush=True,
            )
            result = run_phase(name, workers[name], args.concurrency, args.duration, server_pid)
            report["flows"][name] = result.summary(cores)
            if name == "totp_login" and totp_pool:
                report["flows"][name]["totp_users"] = len(totp_pool.users)
                report["flows"][name]["user_pool_waits"] = totp_pool.waits
                if totp_pool.waits:
                    print(
                        f"  NOTE: {totp_pool.waits} flows waited for a user with an unused TOTP "
                        "step; the user pool limited the rate (raise --totp-users)."
                    )
            if result.setup_errors:
                report["flows"][name]["setup_errors"] = len(result.setup_errors)
                print(
                    f"  {len(result.setup_errors)} thread setups failed, first: "
                    f"{result.setup_errors[0]}"
                )
            if result.errors:
                report["flows"][name]["error_kinds"] = dict(result.error_kinds)
                print(f"  {result.errors} errors {dict(result.error_kinds)}; first ones:")
                for sample in result.error_samples:
                    print(f"    {sample}")
    finally:
        if server:
            server.stop()
            logged = server.server_errors()
            if logged:
                report["server_log_errors"] = logged
                print("server log error lines (first ones):")
                for line in logged[:10]:
                    print(f"    {line}")
            server.cleanup()

    params = report["settings"]["argon2"]
    local_cores = report["machine"]["local_cores"]
    print(
        f"measuring argon2id: {local_cores} processes x {args.argon2_seconds:g} s ...", flush=True
    )
    argon, argon_cpu_ms = argon2_rate_per_core(params, local_cores, args.argon2_seconds)
    report["argon2_hashes_per_second_per_core"] = round(argon, 2)
    report["argon2_cpu_ms_per_hash"] = round(argon_cpu_ms, 1)
    login = report["flows"].get("login")
    report["login_to_argon2_ratio"] = (
        round(login["per_second_per_core"] / argon, 3) if login and argon else None
    )
    login_cpu_ms = login and login.get("server_cpu_ms_per_flow")
    report["argon2_share_of_login_server_cpu"] = (
        round(argon_cpu_ms / login_cpu_ms, 2) if login_cpu_ms else None
    )
    print_table(report)
    line = json.dumps(report, separators=(",", ":"))
    print(line)
    if args.json:
        Path(args.json).write_text(line + "\n")
    failed = report.get("totp_enrollment_errors") or any(
        f["errors"] or f.get("setup_errors") for f in report["flows"].values()
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
