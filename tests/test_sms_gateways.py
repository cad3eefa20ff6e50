"""L4 (SMS codes): the SMS gateways against local stand-ins of their real HTTP APIs, the
fail-over chain, the development outbox, and the ``IDP_SMS_*`` settings."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from idp.sms import FailoverSender
from idp.sms import SmsError
from idp.sms import build_sms_sender
from idp.sms import list_outbox
from idp.sms.base import REASONS
from idp.sms.karaden import KaradenSender
from idp.sms.outbox import OutboxSender
from idp.sms.twilio import TwilioSender
from tests.sms_standins import KaradenStandIn
from tests.sms_standins import TwilioStandIn

pytestmark = pytest.mark.covers("L4")

NUMBER = "+819012345678"
TEXT = "WORKSDRIVE 確認コード: 4Q7X2K"
FROM = "+15005550006"
#: Complete settings for building (not sending): nothing listens at the base URL.
TWILIO_SETTINGS = {
    "provider": "twilio",
    "twilio_account_sid": "AC1",
    "twilio_auth_token": "token",
    "twilio_from": FROM,
}


@pytest.fixture()
def twilio() -> Iterator[TwilioStandIn]:
    standin = TwilioStandIn()
    yield standin
    standin.stop()


@pytest.fixture()
def karaden() -> Iterator[KaradenStandIn]:
    standin = KaradenStandIn()
    yield standin
    standin.stop()


class Recorder(logging.Handler):
    """Keeps the records it handles."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture()
def sms_log() -> Iterator[Recorder]:
    """Records of ``idp.sms`` at every level, whether or not ``idp`` propagates to the root
    (the app stops it once it set up its JSON logging)."""
    logger = logging.getLogger("idp.sms")
    recorder = Recorder()
    level = logger.level
    logger.addHandler(recorder)
    logger.setLevel(logging.DEBUG)
    yield recorder
    logger.setLevel(level)
    logger.removeHandler(recorder)


def twilio_config(standin: TwilioStandIn, **values: str) -> dict[str, str]:
    return {
        "provider": "twilio",
        "twilio_account_sid": standin.account_sid,
        "twilio_auth_token": standin.auth_token,
        "twilio_from": FROM,
        "twilio_base_url": standin.url,
        **values,
    }


def karaden_config(standin: KaradenStandIn, **values: str) -> dict[str, str]:
    return {
        "provider": "karaden",
        "karaden_tenant_id": standin.tenant_id,
        "karaden_token": standin.token,
        "karaden_service_id": standin.service_id,
        "karaden_base_url": standin.url + "/api",
        **values,
    }


def test_L4_twilio_delivers_and_returns_the_sid(twilio: TwilioStandIn, tmp_path: Path) -> None:
    sender = build_sms_sender(twilio_config(twilio), tmp_path)
    assert isinstance(sender, TwilioSender)

    sid = sender.send(NUMBER, TEXT)

    assert [message["sid"] for message in twilio.received] == [sid]
    assert sid.startswith("SM")
    assert twilio.received[0]["form"] == {"To": NUMBER, "From": FROM, "Body": TEXT}


@pytest.mark.parametrize("number", [NUMBER, "+14155550123", "+447700900123"])
def test_L4_twilio_passes_e164_to_unchanged(
    twilio: TwilioStandIn, tmp_path: Path, number: str
) -> None:
    build_sms_sender(twilio_config(twilio), tmp_path).send(number, TEXT)

    assert twilio.received[0]["form"]["To"] == number


def test_L4_twilio_messaging_service_replaces_from(twilio: TwilioStandIn, tmp_path: Path) -> None:
    config = twilio_config(twilio, twilio_messaging_service_sid="MG" + "1" * 32)
    del config["twilio_from"]

    build_sms_sender(config, tmp_path).send(NUMBER, TEXT)

    assert twilio.received[0]["form"] == {
        "To": NUMBER,
        "MessagingServiceSid": "MG" + "1" * 32,
        "Body": TEXT,
    }


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        ("server_error", "server_error"),
        ("auth", "auth"),
        ("invalid_number", "invalid_number"),
        ("unsubscribed", "rejected"),
        ("rate_limited", "rate_limited"),
        ("garbled", "server_error"),
    ],
)
def test_L4_twilio_failure_maps_to_reason(
    twilio: TwilioStandIn, tmp_path: Path, failure: str, reason: str
) -> None:
    twilio.failure = failure
    sender = build_sms_sender(twilio_config(twilio), tmp_path)

    with pytest.raises(SmsError) as caught:
        sender.send(NUMBER, TEXT)

    assert (caught.value.reason, caught.value.provider) == (reason, "twilio")
    assert caught.value.reason in REASONS
    assert TEXT not in str(caught.value)


def test_L4_twilio_wrong_token_is_auth(twilio: TwilioStandIn, tmp_path: Path) -> None:
    config = twilio_config(twilio, twilio_auth_token="revoked")

    with pytest.raises(SmsError) as caught:
        build_sms_sender(config, tmp_path).send(NUMBER, TEXT)

    assert caught.value.reason == "auth"
    assert caught.value.detail == "HTTP 401 code 20003"
    assert not twilio.received


def test_L4_twilio_slow_answer_is_timeout(twilio: TwilioStandIn, tmp_path: Path) -> None:
    twilio.failure = "slow"

    with pytest.raises(SmsError) as caught:
        build_sms_sender(twilio_config(twilio, timeout="0.3"), tmp_path).send(NUMBER, TEXT)

    assert caught.value.reason == "timeout"
    assert caught.value.is_retryable


def test_L4_twilio_down_is_unreachable(twilio: TwilioStandIn, tmp_path: Path) -> None:
    sender = build_sms_sender(twilio_config(twilio), tmp_path)
    twilio.stop()

    with pytest.raises(SmsError) as caught:
        sender.send(NUMBER, TEXT)

    assert caught.value.reason == "unreachable"


@pytest.mark.parametrize("number", ["09012345678", "+0123", "+81 90 1234 5678", ""])
def test_L4_non_e164_number_never_reaches_the_gateway(
    twilio: TwilioStandIn, tmp_path: Path, number: str
) -> None:
    with pytest.raises(SmsError) as caught:
        build_sms_sender(twilio_config(twilio), tmp_path).send(number, TEXT)

    assert caught.value.reason == "invalid_number"
    assert not twilio.received


def test_L4_gateways_never_log_the_text(
    twilio: TwilioStandIn, tmp_path: Path, sms_log: Recorder
) -> None:
    sender = build_sms_sender(twilio_config(twilio), tmp_path)
    sender.send(NUMBER, TEXT)
    twilio.failure = "invalid_number"
    with pytest.raises(SmsError):
        sender.send(NUMBER, TEXT)

    assert sms_log.records
    assert all(TEXT not in record.getMessage() for record in sms_log.records)
    assert all(NUMBER not in record.getMessage() for record in sms_log.records)


def test_L4_karaden_delivers_to_the_domestic_number(
    karaden: KaradenStandIn, tmp_path: Path
) -> None:
    sender = build_sms_sender(karaden_config(karaden), tmp_path)
    assert isinstance(sender, KaradenSender)

    message_id = sender.send(NUMBER, TEXT)

    assert karaden.received == [
        {
            "id": message_id,
            "form": {"service_id": "7", "to": "09012345678", "body": TEXT},
            "version": "2024-03-01",
        }
    ]


@pytest.mark.parametrize(
    ("config", "failure", "reason"),
    [
        ({}, "server_error", "server_error"),
        ({}, "auth", "auth"),
        ({}, "invalid_number", "invalid_number"),
        ({}, "rate_limited", "rate_limited"),
        ({"karaden_token": "revoked"}, None, "auth"),
        ({"karaden_tenant_id": "00000000-0000-0000-0000-000000000000"}, None, "auth"),
        ({"karaden_service_id": "8"}, None, "rejected"),
    ],
)
def test_L4_karaden_failure_maps_to_reason(
    karaden: KaradenStandIn,
    tmp_path: Path,
    config: dict[str, str],
    failure: str | None,
    reason: str,
) -> None:
    karaden.failure = failure

    with pytest.raises(SmsError) as caught:
        build_sms_sender(karaden_config(karaden, **config), tmp_path).send(NUMBER, TEXT)

    assert (caught.value.reason, caught.value.provider) == (reason, "karaden")


@pytest.mark.parametrize(
    ("number", "reason"),
    [("+14155550123", "unsupported_number"), ("+81312345678", "invalid_number")],
)
def test_L4_karaden_refuses_numbers_it_cannot_serve(
    karaden: KaradenStandIn, tmp_path: Path, number: str, reason: str
) -> None:
    with pytest.raises(SmsError) as caught:
        build_sms_sender(karaden_config(karaden), tmp_path).send(number, TEXT)

    assert caught.value.reason == reason
    assert not karaden.received


def chain_config(twilio: TwilioStandIn, karaden: KaradenStandIn) -> dict[str, str]:
    return {**twilio_config(twilio), **karaden_config(karaden), "provider": "twilio, karaden"}


def test_L4_failover_delivers_through_the_second_when_the_first_is_down(
    twilio: TwilioStandIn,
    karaden: KaradenStandIn,
    tmp_path: Path,
    sms_log: Recorder,
) -> None:
    sender = build_sms_sender(chain_config(twilio, karaden), tmp_path)
    assert isinstance(sender, FailoverSender)
    assert sender.name == "twilio,karaden"
    twilio.stop()

    message_id = sender.send(NUMBER, TEXT)

    assert [message["id"] for message in karaden.received] == [message_id]
    warnings = [r.getMessage() for r in sms_log.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "twilio" in warnings[0] and "unreachable" in warnings[0]


def test_L4_failover_uses_the_first_when_it_works(
    twilio: TwilioStandIn, karaden: KaradenStandIn, tmp_path: Path
) -> None:
    sid = build_sms_sender(chain_config(twilio, karaden), tmp_path).send(NUMBER, TEXT)

    assert [message["sid"] for message in twilio.received] == [sid]
    assert not karaden.received


def test_L4_failover_raises_the_last_error_when_all_fail(
    twilio: TwilioStandIn,
    karaden: KaradenStandIn,
    tmp_path: Path,
    sms_log: Recorder,
) -> None:
    sender = build_sms_sender(chain_config(twilio, karaden), tmp_path)
    twilio.failure = "server_error"
    karaden.stop()

    with pytest.raises(SmsError) as caught:
        sender.send(NUMBER, TEXT)

    assert (caught.value.provider, caught.value.reason) == ("karaden", "unreachable")
    warnings = [r.getMessage() for r in sms_log.records if r.levelno == logging.WARNING]
    assert [("twilio" in w, "karaden" in w) for w in warnings] == [(True, False), (False, True)]


def test_L4_outbox_writes_and_lists_newest_first(tmp_path: Path) -> None:
    sender = build_sms_sender({}, tmp_path)
    assert isinstance(sender, OutboxSender)

    first = sender.send(NUMBER, TEXT)
    second = sender.send("+819087654321", "WORKSDRIVE 確認コード: 9ZZ3AB")

    listed = list_outbox(tmp_path)
    assert [entry["id"] for entry in listed] == [second, first]
    assert {key: listed[1][key] for key in ("id", "to", "text")} == {
        "id": first,
        "to": NUMBER,
        "text": TEXT,
    }
    assert listed[0]["created_at"] >= listed[1]["created_at"]
    files = sorted((tmp_path / "sms-outbox").iterdir())
    assert [json.loads(path.read_text(encoding="utf-8"))["id"] for path in files] == [first, second]


def test_L4_outbox_lists_nothing_before_the_first_sms(tmp_path: Path) -> None:
    assert list_outbox(tmp_path) == []


def test_L4_outbox_skips_what_it_cannot_read(tmp_path: Path) -> None:
    sender = build_sms_sender({"provider": "outbox"}, tmp_path)
    message_id = sender.send(NUMBER, TEXT)
    (tmp_path / "sms-outbox" / "99999999T999999-broken.json").write_text("{", encoding="utf-8")

    assert [entry["id"] for entry in list_outbox(tmp_path)] == [message_id]


def test_L4_outbox_refuses_what_a_gateway_refuses(tmp_path: Path) -> None:
    with pytest.raises(SmsError) as caught:
        build_sms_sender({}, tmp_path).send("09012345678", TEXT)

    assert (caught.value.provider, caught.value.reason) == ("outbox", "invalid_number")


@pytest.mark.parametrize("missing", ["twilio_account_sid", "twilio_auth_token"])
def test_L4_twilio_setting_missing_stops_startup(tmp_path: Path, missing: str) -> None:
    config = {**TWILIO_SETTINGS, missing: ""}

    with pytest.raises(ValueError, match=f"IDP_SMS_{missing.upper()}"):
        build_sms_sender(config, tmp_path)


@pytest.mark.parametrize("missing", ["karaden_tenant_id", "karaden_token", "karaden_service_id"])
def test_L4_karaden_setting_missing_stops_startup(tmp_path: Path, missing: str) -> None:
    config = {
        **TWILIO_SETTINGS,
        "provider": "twilio,karaden",
        "karaden_tenant_id": "tenant",
        "karaden_token": "token",
        "karaden_service_id": "1",
    }
    del config[missing]

    with pytest.raises(ValueError, match=f"IDP_SMS_{missing.upper()}"):
        build_sms_sender(config, tmp_path)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"twilio_from": ""}, "IDP_SMS_TWILIO_FROM and IDP_SMS_TWILIO_MESSAGING_SERVICE_SID"),
        ({"twilio_messaging_service_sid": "MG1"}, "exactly one of IDP_SMS_TWILIO_FROM"),
        ({"provider": "twillio"}, "IDP_SMS_PROVIDER: unknown SMS provider 'twillio'"),
        ({"provider": "twilio,outbox"}, "IDP_SMS_PROVIDER: unknown SMS provider 'outbox'"),
        ({"provider": "twilio,twilio"}, "IDP_SMS_PROVIDER names a provider twice"),
        ({"timeout": "soon"}, "IDP_SMS_TIMEOUT"),
        ({"timeout": "0"}, "IDP_SMS_TIMEOUT"),
    ],
)
def test_L4_malformed_settings_stop_startup(
    tmp_path: Path, values: dict[str, str], message: str
) -> None:
    config = {**TWILIO_SETTINGS, **values}

    with pytest.raises(ValueError, match=message):
        build_sms_sender(config, tmp_path)


def test_L4_outbox_is_the_default(tmp_path: Path) -> None:
    assert build_sms_sender({"provider": ""}, tmp_path).name == "outbox"
    assert build_sms_sender({"provider": " Outbox "}, tmp_path).name == "outbox"
