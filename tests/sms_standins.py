"""Local stand-ins for the SMS gateways' HTTP APIs, served over real HTTP on a free port.

Each speaks its API as the adapter meets it: the same path, authentication, form fields,
status codes and JSON bodies, checked as strictly as the real service checks them. It records
every accepted message, and ``failure`` switches it to answer as the real one does when it
fails (``None`` is normal service). ``stop()`` closes the port, so the next request is
refused as by a gateway that is down.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from datetime import UTC
from datetime import datetime
from typing import Any

from werkzeug.serving import BaseWSGIServer
from werkzeug.serving import WSGIRequestHandler
from werkzeug.serving import make_server
from werkzeug.wrappers import Request
from werkzeug.wrappers import Response

E164 = re.compile(r"\+[1-9][0-9]{1,14}")


class QuietHandler(WSGIRequestHandler):
    """No access log lines in the test output."""

    def log(self, type: str, message: str, *args: Any) -> None:
        pass


class StandIn:
    """A WSGI app served in a thread; subclasses implement ``answer(request)``."""

    def __init__(self) -> None:
        #: Every accepted message: its form fields and the request headers that matter.
        self.received: list[dict[str, Any]] = []
        #: None for normal service, else a failure mode of the subclass.
        self.failure: str | None = None
        #: How long the "slow" failure waits before answering.
        self.delay = 2.0
        self._release = threading.Event()
        self._server: BaseWSGIServer = make_server(
            "127.0.0.1", 0, self._wsgi, threaded=True, request_handler=QuietHandler
        )
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Close the port (a later request is refused) and release slow answers."""
        if self._thread.is_alive():
            self._release.set()
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        if self.failure == "slow":
            self._release.wait(self.delay)
        return self.answer(request)(environ, start_response)

    def answer(self, request: Request) -> Response:
        raise NotImplementedError


def json_response(body: dict[str, Any] | None, status: int) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


class TwilioStandIn(StandIn):
    """Twilio's ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``: HTTP Basic auth with
    the AccountSid and AuthToken, a form of ``To``, ``From`` or ``MessagingServiceSid``, and
    ``Body``; 201 with the Message resource, or a Twilio error object.

    Failures: ``server_error`` (500), ``auth`` (401, as for a revoked token),
    ``invalid_number`` (400, 21211), ``unsubscribed`` (400, 21610), ``rate_limited``
    (429, 20429), ``garbled`` (201 that is not JSON), ``slow`` (answers after ``delay``).
    """

    account_sid = "AC" + "0123456789abcdef" * 2
    auth_token = "twilio-auth-token-for-tests"

    def answer(self, request: Request) -> Response:
        match = re.fullmatch(r"/2010-04-01/Accounts/([^/]+)/Messages\.json", request.path)
        if match is None:
            return self.error(404, 20404, "The requested resource was not found")
        if request.method != "POST":
            return self.error(405, 20004, "Method not allowed")
        auth = request.authorization
        if (
            auth is None
            or auth.type != "basic"
            or auth.username != self.account_sid
            or auth.password != self.auth_token
            or match.group(1) != self.account_sid
            or self.failure == "auth"
        ):
            return self.error(401, 20003, "Authenticate")
        if request.mimetype != "application/x-www-form-urlencoded":
            return self.error(400, 21620, "Invalid media type")
        form = request.form.to_dict()
        if not form.get("To"):
            return self.error(400, 21604, "A 'To' phone number is required.")
        if not form.get("From") and not form.get("MessagingServiceSid"):
            return self.error(400, 21603, "A 'From' phone number is required.")
        if not form.get("Body"):
            return self.error(400, 21602, "Message body is required.")
        if not E164.fullmatch(form["To"]) or self.failure == "invalid_number":
            return self.error(400, 21211, f"The 'To' number {form['To']} is not valid.")
        if self.failure == "unsubscribed":
            return self.error(400, 21610, "Attempt to send to unsubscribed recipient")
        if self.failure == "rate_limited":
            return self.error(429, 20429, "Too Many Requests")
        if self.failure == "server_error":
            return self.error(500, 20500, "An internal server error has occurred")
        if self.failure == "garbled":
            return Response("<html>maintenance</html>", status=201, content_type="text/html")
        sid = "SM" + uuid.uuid4().hex
        self.received.append({"sid": sid, "form": form})
        created = datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
        return json_response(
            {
                "account_sid": self.account_sid,
                "api_version": "2010-04-01",
                "body": form["Body"],
                "date_created": created,
                "date_sent": None,
                "date_updated": created,
                "direction": "outbound-api",
                "error_code": None,
                "error_message": None,
                "from": form.get("From"),
                "messaging_service_sid": form.get("MessagingServiceSid"),
                "num_media": "0",
                "num_segments": "1",
                "price": None,
                "price_unit": "USD",
                "sid": sid,
                "status": "accepted" if "MessagingServiceSid" in form else "queued",
                "to": form["To"],
                "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
            },
            201,
        )

    @staticmethod
    def error(status: int, code: int, message: str) -> Response:
        return json_response(
            {
                "code": code,
                "message": message,
                "more_info": f"https://www.twilio.com/docs/errors/{code}",
                "status": status,
            },
            status,
        )


class KaradenStandIn(StandIn):
    """空電プッシュ's ``POST /api/{tenant_id}/messages``: a Bearer token, the
    ``Karaden-Version`` header, a form of ``service_id``, ``to`` (11 domestic digits) and
    ``body``; 200 with the message object, or a Karaden error object.

    Failures: ``server_error`` (500 unknown), ``auth`` (401 unauthentication),
    ``invalid_number`` (422 validation_error on ``to``, as for a number that cannot take
    SMS), ``rate_limited`` (429), ``slow`` (answers after ``delay``).
    """

    tenant_id = "5f0c6c5e-3c4e-4d87-9a0e-2f4bd8e6b1a7"
    token = "karaden-token-for-tests"
    service_id = "7"

    def answer(self, request: Request) -> Response:
        match = re.fullmatch(r"/api/([^/]+)/messages", request.path)
        if match is None or request.method != "POST":
            return self.error(404, "model_not_found", "対象となるモデルが見つかりませんでした")
        if request.headers.get("Authorization") != f"Bearer {self.token}" or (
            self.failure == "auth"
        ):
            return self.error(401, "unauthentication", "認証に失敗しました")
        if match.group(1) != self.tenant_id:
            return self.error(400, "invalid_tenant", "不正なテナントIDが指定されています")
        if self.failure == "server_error":
            return self.error(500, "unknown", "不明なエラーが発生しました")
        if self.failure == "rate_limited":
            return self.error(429, "too_many_requests", "Too Many Requests")
        form = request.form.to_dict()
        errors: dict[str, list[str]] = {}
        if form.get("service_id") != self.service_id:
            errors["service_id"] = ["service_idが不正です。"]
        if not re.fullmatch(r"[0-9]{11}", form.get("to", "")) or self.failure == "invalid_number":
            errors["to"] = ["toは11桁の数字で入力してください。"]
        if not form.get("body"):
            errors["body"] = ["bodyは必須です。"]
        if errors:
            return self.error(422, "validation_error", "バリデーションエラーが発生しました", errors)
        message_id = str(uuid.uuid4())
        self.received.append(
            {"id": message_id, "form": form, "version": request.headers.get("Karaden-Version")}
        )
        now = datetime.now(UTC).isoformat(timespec="seconds")
        return json_response(
            {
                "id": message_id,
                "object": "message",
                "service_id": int(form["service_id"]),
                "billing_address_id": 1,
                "to": form["to"],
                "body": form["body"],
                "tags": [],
                "is_shorten": False,
                "result": "processing",
                "status": "waiting",
                "sent_result": "none",
                "carrier": "checking",
                "charged_count_per_sent": 1,
                "created_at": now,
                "updated_at": now,
            },
            200,
        )

    @staticmethod
    def error(
        status: int, code: str, message: str, errors: dict[str, list[str]] | None = None
    ) -> Response:
        body = {"object": "error", "code": code, "message": message, "errors": errors}
        return json_response(body, status)
