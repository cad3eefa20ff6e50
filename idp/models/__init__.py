"""Durable state (DESIGN.md, State). Schema changes go through Alembic (``idp/migrations``).

One module per domain; every public name is re-exported here, so ``from idp.models import
User`` is the way in. Importing the package defines every table on ``db.metadata`` (what
Alembic compares against) and registers the ORM listeners of ``idp.models.users``."""

from __future__ import annotations

from idp.models.audit import AuditChainHead
from idp.models.audit import AuditEvent
from idp.models.base import Base
from idp.models.base import db
from idp.models.base import new_id
from idp.models.base import rowcount
from idp.models.base import transient
from idp.models.base import utcnow
from idp.models.clients import Client
from idp.models.clients import ScimToken
from idp.models.contracts import Contract
from idp.models.contracts import LineNumber
from idp.models.credentials import AdConnection
from idp.models.credentials import RememberedBrowser
from idp.models.credentials import SecondFactor
from idp.models.credentials import UpstreamIdentity
from idp.models.ephemeral import EphemeralEntry
from idp.models.invitations import Invitation
from idp.models.invitations import InvitationJob
from idp.models.invitations import InvitationJobRow
from idp.models.mail import MailLink
from idp.models.mail import QueuedMail
from idp.models.sessions import BackchannelLogout
from idp.models.sessions import RefreshToken
from idp.models.sessions import SsoSessionRecord
from idp.models.sessions import TokenFamily
from idp.models.users import User
from idp.models.users import UserSearchGram
from idp.models.users import index_search_grams
from idp.models.users import name_key

__all__ = [
    "AdConnection",
    "AuditChainHead",
    "AuditEvent",
    "BackchannelLogout",
    "Base",
    "Client",
    "Contract",
    "EphemeralEntry",
    "Invitation",
    "InvitationJob",
    "InvitationJobRow",
    "LineNumber",
    "MailLink",
    "QueuedMail",
    "RefreshToken",
    "RememberedBrowser",
    "ScimToken",
    "SecondFactor",
    "SsoSessionRecord",
    "TokenFamily",
    "UpstreamIdentity",
    "User",
    "UserSearchGram",
    "db",
    "index_search_grams",
    "name_key",
    "new_id",
    "rowcount",
    "transient",
    "utcnow",
]
