"""OpenID Connect Back-Channel Logout 1.0 (X7), the provider's side (domain): when a user's
sessions end — logout, sign out everywhere, password reset, and whatever else calls
:func:`idp.backchannel.notify.notify_logout` — every client that registered a
``backchannel_logout_uri`` and had tokens for that user is sent a logout token.

``logout_token`` builds and signs the token (§2.4), ``notify`` picks the clients and queues
one delivery per token (§2.5), ``delivery`` POSTs them off the request thread and retries a
client that is down."""
