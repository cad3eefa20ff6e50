"""Demo storage frontend ("WORKSDRIVE"): a small but careful OpenID Connect relying party.

It stands in for the hosted storage service in ``make demo`` and in browser tests. It uses the
authorization code flow with PKCE (S256), a nonce, ``state`` (handled by authlib), the RFC 9207
``iss`` check, discovery-issuer pinning, strict ID-token audience checks, the refresh-token grant
(with the OIDC Core 12.2 checks on a refreshed ID token), RP-initiated logout and Back-Channel
Logout (``/backchannel-logout`` ends the sessions a valid logout token names).

Tokens are kept in a small in-process store keyed by a random id held in the signed session
cookie: browsers drop cookies above 4 KB and a signed (not encrypted) cookie would also expose the
tokens. The frontend runs on the same host as the provider in demos (cookies ignore ports), so its
session cookie has its own name.

Modules: ``app`` (the factory), ``relying_party`` (discovery, tokens, userinfo, logout tokens),
``routes`` (the views), ``pages`` (rendering and error pages), ``guards`` (browser defences).
"""

from __future__ import annotations

from idp.demo.frontend.app import create_frontend_app
from idp.demo.frontend.app import main

__all__ = ["create_frontend_app", "main"]
