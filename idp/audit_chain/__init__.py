"""The tamper-evident audit log (X8), a domain package.

Each contract's audit events form one hash chain, and the events of no contract (the CLI's
purge and key rotation, sign-ins refused before a user was known) form one more, keyed ``""``.
Within a chain, event ``seq`` = n carries ``hash`` = SHA-256 over the hash of event n - 1 and
the canonical serialization of event n (``canonical``); the chain's head row
(``audit_chain_heads``) holds the last ``seq`` and ``hash``, so that a cut-off tail shows too.

Writing and sealing are apart, so that the hot paths (login, token) take no lock per
contract: ``audit.record`` inserts the row unsealed (``seq``, ``hash`` NULL), and after the
commit asks the sealer (``sealer``) to run off the request thread; requests made while a seal
is pending coalesce into that one. ``seal`` chains a chain's unsealed rows in id order while
it holds the lock on that chain's head row (one chain per transaction, so no deadlock).
``idp audit seal`` runs it by hand, and ``idp purge`` runs it before deleting anything.

The window: between its commit and the sealer's commit (normally a quarter of a second, the
sealer's ``SEAL_DELAY``; longer if the process dies in between, until the next event or
``idp audit seal``), a row is not yet protected: it can be edited or deleted without a
trace. ``verify`` counts unsealed rows and reports those older than a grace period (default
five minutes) as a problem.

What the chain does not do: someone who can write to the database and recompute SHA-256 can
rewrite a chain's whole tail and its head. Each seal logs the new head (chain, seq, hash) in
the JSON log; kept elsewhere, those lines pin the chain down to that point.

Retention (``idp purge``, ``IDP_AUDIT_RETENTION_DAYS``) deletes each chain's oldest sealed
events and keeps a checkpoint (the seq and hash of the last one deleted) from which
verification starts; a cancelled contract's events follow the same rule (C3 keeps them).
"""
