"""Who asked for a change (DESIGN.md "Inside idp/"): every domain function that changes
something takes an ``Actor`` and names it in the audit event it writes."""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from enum import StrEnum


class ActorKind(StrEnum):
    #: A signed-in person acting on their own account or contract (account menu, links).
    USER = "user"
    #: An administrator of the service (admin console, admin API).
    ADMIN = "admin"
    #: An operator at the ``idp`` command line.
    CLI = "cli"
    #: The provider itself applying a rule (a lock after failures, the scheduled purge).
    SYSTEM = "system"
    #: A person not signed in (the forgot-password page).
    ANONYMOUS = "anonymous"
    #: A service client of one contract (the admin API's client-credentials caller, G7): no
    #: person behind it.
    CLIENT = "client"
    #: A contract's directory provisioning users through SCIM (G7), named by its token's id.
    SCIM = "scim"


@dataclass(frozen=True)
class Actor:
    kind: ActorKind
    #: The user id for USER/ADMIN, the OS account for CLI, the rule or job for SYSTEM, the
    #: client_id for CLIENT, the token id for SCIM.
    id: str | None = None
    #: The actor's own contract (users and contract administrators).
    contract_id: str | None = None

    @classmethod
    def user(cls, user_id: str, contract_id: str | None = None) -> Actor:
        return cls(ActorKind.USER, user_id, contract_id)

    @classmethod
    def admin(cls, user_id: str, contract_id: str | None = None) -> Actor:
        return cls(ActorKind.ADMIN, user_id, contract_id)

    @classmethod
    def cli(cls) -> Actor:
        """The operator, named by the OS account that ran the command."""
        try:
            name = getpass.getuser()
        except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER (containers)
            name = None
        return cls(ActorKind.CLI, name)

    @classmethod
    def client(cls, client_id: str, contract_id: str) -> Actor:
        """A service client acting on its one contract (G7, G8)."""
        return cls(ActorKind.CLIENT, client_id, contract_id)

    @classmethod
    def system(cls, job: str) -> Actor:
        return cls(ActorKind.SYSTEM, job)

    @classmethod
    def scim(cls, token_id: str, contract_id: str) -> Actor:
        """A SCIM client of ``contract_id``, by the id (never the value) of its token."""
        return cls(ActorKind.SCIM, token_id, contract_id)

    @classmethod
    def anonymous(cls) -> Actor:
        return cls(ActorKind.ANONYMOUS)

    def as_details(self) -> dict[str, str | None]:
        """The audit event's ``actor`` entry."""
        return {"kind": self.kind.value, "id": self.id, "contract_id": self.contract_id}

    def as_text(self) -> str:
        """The audit event's ``actor`` column: ``kind:id`` (``user:<id>``, ``cli:<OS user>``,
        ``system:<job>``), or the kind alone when there is no id."""
        return f"{self.kind.value}:{self.id}" if self.id else self.kind.value
