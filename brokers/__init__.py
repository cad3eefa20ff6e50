"""Upstream identity providers, each a small module on :mod:`brokers.base` (STYLE §3).

:mod:`brokers.registry` lists them (names, login buttons, classes); each class declares its
``IDP_BROKER_<NAME>_*`` settings (:mod:`brokers.settings`). The OpenID Connect ones share
:mod:`brokers.oidc` (hooks), :mod:`brokers.code_flow`, :mod:`brokers.discovery`,
:mod:`brokers.id_token` and :mod:`brokers.oidc_settings`; Facebook is OAuth 2.0 + Graph; AD is
AD FS (:mod:`brokers.adfs`) or a direct bind (:mod:`brokers.ldap`, :mod:`brokers.ad_errors`).
"""
