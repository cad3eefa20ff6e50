"""OpenID Connect and OAuth 2.0 endpoints, built on authlib's authorization server."""
