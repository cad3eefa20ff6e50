"""SMS delivery for one-time codes (L4): a development outbox, and real gateways behind
:class:`~idp.sms.base.SmsSender`, configured by ``IDP_SMS_*`` variables.

``build_sms_sender`` receives those variables with the prefix stripped and lower-cased
(``IDP_SMS_PROVIDER=twilio`` arrives as ``{"provider": "twilio"}``); a missing setting of a
configured provider raises ``ValueError`` naming the variable, so that startup stops.

| Variable | Meaning (default) |
| --- | --- |
| `IDP_SMS_PROVIDER` | `outbox` (default), `twilio`, `karaden`, or a chain: `twilio,karaden` |
| `IDP_SMS_TIMEOUT` | Seconds to wait for each gateway to connect and to answer (`5`) |
| `IDP_SMS_TWILIO_ACCOUNT_SID` | Twilio Account SID, `AC…` (required for twilio) |
| `IDP_SMS_TWILIO_AUTH_TOKEN` | Twilio Auth Token, secret (required for twilio) |
| `IDP_SMS_TWILIO_FROM` | Sender number, E.164 (this or the next one for twilio) |
| `IDP_SMS_TWILIO_MESSAGING_SERVICE_SID` | Twilio Messaging Service, `MG…`, that picks the sender |
| `IDP_SMS_TWILIO_BASE_URL` | API base (`https://api.twilio.com`; tests use a stand-in) |
| `IDP_SMS_KARADEN_TENANT_ID` | 空電プッシュ (Karaden) tenant ID, a UUID (required for karaden) |
| `IDP_SMS_KARADEN_TOKEN` | Karaden API token, secret (required for karaden) |
| `IDP_SMS_KARADEN_SERVICE_ID` | Karaden service setting ID, a number (required for karaden) |
| `IDP_SMS_KARADEN_BASE_URL` | API base (`https://prg.karaden.jp/api`; tests use a stand-in) |
| `IDP_SMS_KARADEN_API_VERSION` | `Karaden-Version` header (`2024-03-01`) |

``outbox`` is for development: each SMS becomes a JSON file in ``<instance>/sms-outbox``,
listed on the developer page. A chain tries its gateways in order, logs each failure, and
fails only when all did. Karaden delivers to Japanese numbers (``+81``) only; put it after
a gateway that reaches other countries in a chain.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from pathlib import Path

from idp.sms.base import REASONS
from idp.sms.base import SmsError
from idp.sms.base import SmsSender
from idp.sms.failover import FailoverSender
from idp.sms.karaden import KaradenSender
from idp.sms.outbox import FOLDER_NAME
from idp.sms.outbox import OutboxSender
from idp.sms.outbox import list_outbox
from idp.sms.twilio import TwilioSender

__all__ = [
    "REASONS",
    "FailoverSender",
    "SmsError",
    "SmsSender",
    "build_sms_sender",
    "list_outbox",
]

DEFAULT_TIMEOUT = 5.0
#: The real gateways by their ``IDP_SMS_PROVIDER`` name: each builds itself from the
#: settings and the timeout.
GATEWAYS: dict[str, Callable[[Mapping[str, str], float], SmsSender]] = {
    "twilio": TwilioSender.from_config,
    "karaden": KaradenSender.from_config,
}


def build_sms_sender(config: Mapping[str, str], instance_dir: Path) -> SmsSender:
    """The sender that ``IDP_SMS_*`` describes; raises ValueError naming a missing or
    malformed variable."""
    names = [name.strip().lower() for name in (config.get("provider") or "outbox").split(",")]
    if names == ["outbox"]:
        return OutboxSender(Path(instance_dir) / FOLDER_NAME)
    unknown = [name for name in names if name not in GATEWAYS]
    if unknown:
        raise ValueError(
            f"IDP_SMS_PROVIDER: unknown SMS provider {', '.join(map(repr, unknown))}; "
            f"use outbox alone, or one or more of {', '.join(GATEWAYS)}"
        )
    if len(set(names)) != len(names):
        raise ValueError("IDP_SMS_PROVIDER names a provider twice")
    timeout = read_timeout(config)
    senders = [GATEWAYS[name](config, timeout) for name in names]
    return senders[0] if len(senders) == 1 else FailoverSender(senders)


def read_timeout(config: Mapping[str, str]) -> float:
    """``IDP_SMS_TIMEOUT`` in seconds, a positive number."""
    raw = (config.get("timeout") or "").strip()
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        timeout = float(raw)
    except ValueError:
        timeout = 0.0
    if not 0 < timeout <= 60:
        raise ValueError(f"IDP_SMS_TIMEOUT must be a number of seconds in (0, 60], not {raw!r}")
    return timeout
