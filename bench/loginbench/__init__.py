"""The pieces of ``bench/login_bench.py`` (see bench/README.md).

- ``steps.py``: one HTTP step of a flow (expected redirect, form fields, the error's gist);
- ``flows.py``: the password login and the refresh chain, as workers;
- ``totp.py``: the login with an authenticator app, and the pool of enrolled users;
- ``runner.py``: runs one flow's workers for a measured window;
- ``machine.py``: CPU model and CPU-time accounting from /proc;
- ``ceiling.py``: bare argon2id hashes per second per core;
- ``server.py``: a throw-away provider under ``idp serve``, provisioned for the run;
- ``report.py``: the table printed at the end.
"""
