"""The upstreams we broker: the one list of their names, login-page buttons, settings and
classes (STYLE §3). Adding an upstream is its module, one :class:`Upstream` line in
:data:`UPSTREAMS` and its test file (``tests/test_broker_registry.py`` checks all three).

Settings are ``IDP_BROKER_<NAME>_<KEY>``, declared by each class's ``SETTINGS`` table
(:mod:`brokers.settings`). :func:`build_brokers` builds every configured upstream at start-up
(``create_app``), so a missing or malformed setting stops start-up naming the variable; an
upstream without settings is "not available" on its button. :func:`render_upstream_tables`
writes the README's tables from the same data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from brokers.base import Broker
from brokers.daccount import DAccountBroker
from brokers.facebook import FacebookBroker
from brokers.google import GoogleBroker
from brokers.microsoft import MicrosoftBroker
from brokers.oidc import OidcBroker
from brokers.oidc_settings import OIDC_SETTINGS
from brokers.settings import TABLE_HEADER
from brokers.settings import render_table

ENV_PREFIX = "IDP_BROKER_"


def N_(message: str) -> str:  # noqa: N802  (Babel's default keyword for "translate later")
    """Mark ``message`` for the catalogue; the page translates it when it renders."""
    return message


@dataclass(frozen=True)
class Upstream:
    """One upstream on the login page.

    :param name: registry name, ``BrokeredIdentity.provider`` and login method (SPEC Words).
    :param label: the button text, a msgid: ``N_("d account")`` when it is translated, a
        brand name as is.
    :param style: the button's style key, ``class="broker broker--{style}"``.
    :param broker_class: built from ``IDP_BROKER_<NAME>_*``; ``None`` for an upstream that is
        configured per contract instead (Active Directory: ``idp ad add``).
    """

    name: str
    label: str
    style: str
    broker_class: type[Broker] | None

    @property
    def env_prefix(self) -> str:
        """``IDP_BROKER_GOOGLE_``."""
        return f"{ENV_PREFIX}{self.name.upper()}_"


#: In the order of the login page's buttons.
UPSTREAMS: tuple[Upstream, ...] = (
    Upstream("google", "Google", "google", GoogleBroker),
    Upstream("facebook", "Facebook", "facebook", FacebookBroker),
    Upstream("microsoft", "Microsoft", "microsoft", MicrosoftBroker),
    Upstream("daccount", N_("d account"), "daccount", DAccountBroker),
    Upstream("ad", N_("Active Directory"), "ad", None),
)
UPSTREAMS_BY_NAME: Mapping[str, Upstream] = {upstream.name: upstream for upstream in UPSTREAMS}
#: Registry name -> broker class, for the upstreams built from settings.
BROKER_CLASSES: Mapping[str, type[Broker]] = {
    upstream.name: upstream.broker_class
    for upstream in UPSTREAMS
    if upstream.broker_class is not None
}


def build_broker(name: str, config: Mapping[str, str]) -> Broker:
    """The broker ``name`` from its settings (``IDP_BROKER_<NAME>_*``, prefix stripped).

    :raises ValueError: unknown broker, or a missing, unknown or malformed setting (names the
        variable).
    """
    try:
        broker_class = BROKER_CLASSES[name]
    except KeyError:
        raise ValueError(
            f"{ENV_PREFIX}{name.upper()}_*: unknown broker {name!r}; known: "
            f"{', '.join(BROKER_CLASSES)}"
        ) from None
    settings = {key.lower(): value for key, value in config.items()}
    return broker_class.from_config(settings, UPSTREAMS_BY_NAME[name].env_prefix)


def build_brokers(configs: Mapping[str, Mapping[str, str]]) -> dict[str, Broker]:
    """Every configured upstream, built once at start-up.

    :param configs: registry name -> its settings (``Settings.brokers``); an upstream whose
        settings are all empty is not configured and is left out.
    :raises ValueError: the first broker that cannot be built, naming the variable.
    """
    return {
        name: build_broker(name, config)
        for name, config in sorted(configs.items())
        if any(value.strip() for value in config.values())
    }


def render_upstream_tables() -> str:
    """The README's settings table (Markdown): the settings every OpenID Connect upstream
    reads, as ``IDP_BROKER_<NAME>_*``, then each upstream's own settings and the defaults in
    which it differs."""
    rows = render_table(f"{ENV_PREFIX}<NAME>_", OIDC_SETTINGS)
    for upstream in UPSTREAMS:
        if upstream.broker_class is None:
            continue
        table = upstream.broker_class.SETTINGS
        if issubclass(upstream.broker_class, OidcBroker):
            table = tuple(setting for setting in table if setting not in OIDC_SETTINGS)
        rows += render_table(upstream.env_prefix, table)
    return "\n".join((*TABLE_HEADER, *rows)) + "\n"
