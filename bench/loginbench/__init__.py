"""The pieces of ``bench/login_bench.py`` (see bench/README.md).

- ``steps.py``: one HTTP step of a flow (expected redirect, form fields, the error's gist);
- ``flows.py``: the password sign-in with consent, the refresh chain, client credentials;
- ``totp.py``: the login with an authenticator app, and the pool of enrolled users;
- ``runner.py``: runs one flow's workers, closed loop or open loop (load mode);
- ``machine.py``: the machine (CPU, RAM, versions) and CPU-time accounting from /proc;
- ``ceiling.py``: bare argon2id verifications per CPU-second;
- ``server.py``: a throw-away provider under ``idp serve``, provisioned for the run;
- ``backends.py``: SQLite, or a private PostgreSQL + Redis;
- ``profile.py``: py-spy on the workers, flame graph and top functions;
- ``targets.py``: the targets of issue 13 from a run's figures;
- ``report.py``: the tables printed at the end.
"""
