"""Twilio's Programmable Messaging API: ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``
with HTTP Basic auth (AccountSid, AuthToken) and the form fields ``To``, ``From`` or
``MessagingServiceSid``, and ``Body``; 201 answers the Message resource with its ``sid``.
https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource"""

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

DEFAULT_BASE_URL = "https://api.twilio.com"
#: Twilio error codes (https://www.twilio.com/docs/api/errors) → our reasons; other 4xx
#: answers are "rejected" (21608 unverified and 21610 unsubscribed recipients among them),
#: and 429 (20429 Too Many Requests) is "rate_limited" in every gateway.
ERROR_REASONS: dict[int, str] = {
    20003: "auth",  # Authentication Error (401)
    21211: "invalid_number",  # Invalid 'To' Phone Number
    21217: "invalid_number",  # Phone number does not appear to be valid
    21614: "invalid_number",  # 'To' number is not a valid mobile number
}


class TwilioSender(HttpGateway):
    """Sends through Twilio, from a number or a Messaging Service."""

    name = "twilio"

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        sender: dict[str, str],
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 5.0,
    ) -> None:
        """:param sender: ``{"From": number}`` or ``{"MessagingServiceSid": sid}``."""
        super().__init__(timeout)
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.sender = sender
        self.url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"

    @classmethod
    def from_config(cls, config: Mapping[str, str], timeout: float) -> TwilioSender:
        from_number = optional_setting(config, "twilio_from")
        service_sid = optional_setting(config, "twilio_messaging_service_sid")
        if bool(from_number) == bool(service_sid):
            raise ValueError(
                "set exactly one of IDP_SMS_TWILIO_FROM and IDP_SMS_TWILIO_MESSAGING_SERVICE_SID"
            )
        return cls(
            require_setting(config, "twilio_account_sid"),
            require_setting(config, "twilio_auth_token"),
            {"From": from_number} if from_number else {"MessagingServiceSid": service_sid},
            optional_setting(config, "twilio_base_url") or DEFAULT_BASE_URL,
            timeout,
        )

    def send(self, to: str, text: str) -> str:
        check_e164(to, self.name)
        form = {"To": to, **self.sender, "Body": text}
        status, payload = self.post_form(self.url, form, auth=(self.account_sid, self.auth_token))
        if status >= 400:
            code = payload.get("code")
            reason = ERROR_REASONS.get(code, "rejected") if isinstance(code, int) else "rejected"
            reason = "auth" if status == 401 else reason
            raise SmsError(reason, self.name, f"HTTP {status} code {code}")
        sid = payload.get("sid")
        if not isinstance(sid, str) or not sid:
            raise SmsError("server_error", self.name, f"HTTP {status} without a sid")
        log.info("SMS to %s accepted by twilio as %s", mask_number(to), sid)
        return sid
