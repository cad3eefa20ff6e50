"""空電プッシュ (Karaden), a Japanese carrier-grade SMS gateway for domestic numbers:
``POST {base}/{tenant_id}/messages`` with ``Authorization: Bearer <token>``, the
``Karaden-Version`` header and the form fields ``service_id``, ``to`` (11 domestic digits,
``09012345678``) and ``body``; 200 answers the message object with its ``id`` (a UUID), and
errors are ``{"object": "error", "code": ..., "message": ..., "errors": {field: [...]}}``.
Source: Karaden's OpenAPI description shipped with its official SDKs (karaden-prg-*, API
version 2024-03-01)."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from idp.sms.base import HttpGateway
from idp.sms.base import SmsError
from idp.sms.base import check_e164
from idp.sms.base import mask_number
from idp.sms.base import optional_setting
from idp.sms.base import require_setting

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://prg.karaden.jp/api"
DEFAULT_API_VERSION = "2024-03-01"
#: Karaden delivers inside Japan only, to 11-digit domestic numbers (mobile 070/080/090).
JAPAN_PREFIX = "+81"


def to_domestic(to: str, provider: str = "karaden") -> str:
    """``+819012345678`` → ``09012345678``, Karaden's ``to``."""
    if not to.startswith(JAPAN_PREFIX):
        raise SmsError("unsupported_number", provider, "not a Japanese number")
    national = to.removeprefix(JAPAN_PREFIX)
    if len(national) != 10:
        raise SmsError("invalid_number", provider, "not an 11-digit domestic number")
    return "0" + national


class KaradenSender(HttpGateway):
    """Sends through Karaden's message API with one tenant, token and service setting."""

    name = "karaden"

    def __init__(
        self,
        tenant_id: str,
        token: str,
        service_id: str,
        base_url: str = DEFAULT_BASE_URL,
        api_version: str = DEFAULT_API_VERSION,
        timeout: float = 5.0,
    ) -> None:
        super().__init__(timeout)
        self.token = token
        self.service_id = service_id
        self.api_version = api_version
        self.url = f"{base_url.rstrip('/')}/{tenant_id}/messages"

    @classmethod
    def from_config(cls, config: Mapping[str, str], timeout: float) -> KaradenSender:
        service_id = require_setting(config, "karaden_service_id")
        if not service_id.isdigit():
            raise ValueError("IDP_SMS_KARADEN_SERVICE_ID must be a number")
        return cls(
            require_setting(config, "karaden_tenant_id"),
            require_setting(config, "karaden_token"),
            service_id,
            optional_setting(config, "karaden_base_url") or DEFAULT_BASE_URL,
            optional_setting(config, "karaden_api_version") or DEFAULT_API_VERSION,
            timeout,
        )

    def send(self, to: str, text: str) -> str:
        check_e164(to, self.name)
        domestic = to_domestic(to, self.name)
        status, payload = self.post_form(
            self.url,
            {"service_id": self.service_id, "to": domestic, "body": text},
            headers={
                "Authorization": f"Bearer {self.token}",
                "Karaden-Version": self.api_version,
            },
        )
        if status >= 400:
            code = payload.get("code")
            raise SmsError(self._reason(status, payload), self.name, f"HTTP {status} code {code}")
        message_id = payload.get("id")
        if not isinstance(message_id, str) or not message_id:
            raise SmsError("server_error", self.name, f"HTTP {status} without an id")
        log.info("SMS to %s accepted by karaden as %s", mask_number(to), message_id)
        return message_id

    @staticmethod
    def _reason(status: int, payload: Mapping[str, object]) -> str:
        # 400 invalid_tenant and 403 mean our tenant/token pair is wrong; 422 names the
        # fields that failed validation.
        if status in (401, 403) or payload.get("code") == "invalid_tenant":
            return "auth"
        errors = payload.get("errors")
        if status == 422 and isinstance(errors, dict) and "to" in errors:
            return "invalid_number"
        return "rejected"
