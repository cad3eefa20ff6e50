"""A lease on a background job in the shared ephemeral store (issue 13, several nodes): the
node that holds it runs the job and renews it as it goes; when that node stops, the lease runs
out and another node's sweep may take the job over (idp/users/bulk_invite.py)."""

from __future__ import annotations

import secrets
import time

from idp import extensions


class Lease:
    """This process's hold on a job: the shared store's key holds its token until it runs
    out (``IDP_INVITE_JOB_LEASE`` seconds after it was last renewed)."""

    def __init__(self, key: str, token: str) -> None:
        self.key = key
        self.token = token
        self.renewed = time.monotonic()

    @staticmethod
    def seconds() -> int:
        return max(1, extensions.settings().invite_job_lease)

    @classmethod
    def take(cls, key: str) -> Lease | None:
        """The lease on ``key``, unless another holds it (atomic: of two nodes, one takes
        it)."""
        token = secrets.token_urlsafe(16)
        if extensions.store().add(key, token, cls.seconds()):
            return cls(key, token)
        return None

    def keep(self, *, now: bool = False) -> bool:
        """Still ours? Renewed when a third of it has passed (or ``now``); ``False``: another
        node took the job over (ours had run out), and this one must stop."""
        if not now and time.monotonic() - self.renewed < self.seconds() / 3:
            return True
        store = extensions.store()
        if store.get(self.key) != self.token:
            return False
        store.set(self.key, self.token, self.seconds())
        self.renewed = time.monotonic()
        return True

    def release(self) -> None:
        store = extensions.store()
        if store.get(self.key) == self.token:
            store.delete(self.key)


class LeaseLost(Exception):
    """Another node took the job over: this one stops where it is."""
