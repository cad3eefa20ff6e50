"""The parties that call the provider: relying parties (OAuth clients) and SCIM clients' tokens
(G7)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON
from sqlalchemy import Boolean
from sqlalchemy import DateTime
from sqlalchemy import ForeignKey
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from idp.models.base import db
from idp.models.base import new_id
from idp.models.base import utcnow
from idp.oidc.clients import OAuthClientMixin


class Client(db.Model, OAuthClientMixin):  # type: ignore[name-defined,misc]
    """A registered relying party."""

    __tablename__ = "clients"
    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    #: SHA-256 hex of the high-entropy secret (DESIGN.md, Cost on the hot paths); None: public.
    secret_hash: Mapped[str | None] = mapped_column(String(64))
    redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    scope: Mapped[str] = mapped_column(Text, default="openid profile email offline_access contract")
    #: First-party client: no consent page.
    is_trusted: Mapped[bool] = mapped_column(Boolean, default=False)
    #: PKCE (S256) required; a legacy confidential client may be registered without it.
    require_pkce: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Refresh tokens even without ``offline_access``.
    receives_refresh_tokens: Mapped[bool] = mapped_column(Boolean, default=False)
    id_token_signed_response_alg: Mapped[str] = mapped_column(String(8), default="RS256")
    #: OIDC Back-Channel Logout 1.0 §2.2: where logout tokens are POSTed; None: not sent.
    backchannel_logout_uri: Mapped[str | None] = mapped_column(Text)
    #: §2.2: the client needs ``sid`` in every logout token (one token per session then).
    backchannel_logout_session_required: Mapped[bool] = mapped_column(Boolean, default=False)
    #: RFC 6749 grants the client may use: a relying party ``authorization_code`` and
    #: ``refresh_token``; a service client (the admin API's, G7) ``client_credentials`` only.
    grant_types: Mapped[list[str]] = mapped_column(
        JSON, default=lambda: ["authorization_code", "refresh_token"]
    )
    #: G7: a service client acts on this one contract and no other; None for relying parties.
    contract_id: Mapped[str | None] = mapped_column(
        ForeignKey("contracts.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ScimToken(db.Model):  # type: ignore[name-defined,misc]
    """G7: a bearer token of one contract's SCIM client (a customer's directory provisioning
    its users, RFC 7644 §2). Only its SHA-256 is kept (256 random bits: a hash lookup, no
    password hash); the token itself is shown once by ``idp scim token``."""

    __tablename__ = "scim_tokens"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    contract_id: Mapped[str] = mapped_column(
        ForeignKey("contracts.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
