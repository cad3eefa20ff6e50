"""Fail-over across gateways (L4): when one gateway fails, the next one in the configured
order gets the same SMS; the person sees an error only when every gateway failed."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from idp.sms.base import SmsError
from idp.sms.base import SmsSender
from idp.sms.base import mask_number

log = logging.getLogger(__name__)


class FailoverSender:
    """Tries ``senders`` in order and returns the first message id; logs every failure and
    raises the last :class:`SmsError` when all of them failed. A gateway that timed out may
    still deliver late, so the person can then receive the same text twice."""

    def __init__(self, senders: Sequence[SmsSender]) -> None:
        if len(senders) < 2:
            raise ValueError("a fail-over chain needs at least two SMS providers")
        self.senders = tuple(senders)
        self.name = ",".join(sender.name for sender in self.senders)

    def send(self, to: str, text: str) -> str:
        failure: SmsError | None = None
        for sender in self.senders:
            try:
                message_id = sender.send(to, text)
            except SmsError as error:
                log.warning(
                    "SMS to %s failed on %s: %s (%s)",
                    mask_number(to),
                    error.provider,
                    error.reason,
                    error.detail,
                )
                failure = error
                continue
            if failure is not None:
                log.info("SMS to %s delivered by fail-over to %s", mask_number(to), sender.name)
            return message_id
        assert failure is not None  # the chain is never empty
        raise failure
