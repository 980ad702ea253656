"""A stand-in for the Toss Payments API on 127.0.0.1, following its published protocol.

A real HTTP server (a thread per request) that answers as the documented API does, so the
adapter is tested over the wire: Basic authentication with the secret key (`<key>:`),
`POST /v1/payments/confirm` bound to the orderId and amount the widget paid for,
`POST /v1/payments/{paymentKey}/cancel` (whole or part of the balance), `GET
/v1/payments/{paymentKey}`, `Idempotency-Key` replaying the first answer, errors as
`{"code", "message"}`, and webhooks: `PAYMENT_STATUS_CHANGED` (unsigned) after each
change, posted until answered 200, and signed `payout.changed` events on demand.

`widget_payment()` plays the fan's browser: the payment widget's `requestPayment` makes a
paymentKey for an orderId and amount, which the shop's server must then confirm.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

KST = timezone(timedelta(hours=9))
# Error messages as the error-code reference words them.
ERRORS = {
    "UNAUTHORIZED_KEY": (401, "인증되지 않은 시크릿 키 혹은 클라이언트 키 입니다."),
    "NOT_FOUND_PAYMENT": (404, "존재하지 않는 결제 정보 입니다."),
    "NOT_FOUND_PAYMENT_SESSION": (
        404,
        "결제 시간이 만료되어 결제 진행 데이터가 존재하지 않습니다.",
    ),
    "ALREADY_PROCESSED_PAYMENT": (400, "이미 처리된 결제 입니다."),
    "INVALID_REQUEST": (400, "잘못된 요청입니다."),
    "REJECT_CARD_PAYMENT": (403, "한도초과 혹은 잔액부족으로 결제에 실패했습니다."),
    "ALREADY_CANCELED_PAYMENT": (400, "이미 취소된 결제 입니다."),
    "NOT_CANCELABLE_AMOUNT": (403, "취소 할 수 없는 금액 입니다."),
    "NOT_CANCELABLE_PAYMENT": (403, "취소 할 수 없는 결제 입니다."),
}


def _now() -> str:
    return datetime.now(KST).isoformat(timespec="seconds")


class TossStandIn:
    def __init__(self, secret_key: str, security_key: bytes) -> None:
        self.secret_key = secret_key
        self.security_key = security_key
        self.webhook_url: str | None = None
        self.payments: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, dict[str, Any]] = {}
        self.confirms = 0
        """Confirms that reached the payment logic (not replayed by an Idempotency-Key)."""
        self.idempotency_keys: list[str] = []
        self.webhook_answers: list[int] = []
        self._replies: dict[tuple[str, str, str], tuple[int, bytes]] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.url = ""
        self._threads: list[threading.Thread] = []

    # -- the fan's browser and the dashboard

    def widget_payment(self, order_id: str, amount: int, card: str = "approve") -> str:
        """`requestPayment` succeeded in the browser: a paymentKey bound to order and amount.
        `card="reject"`: the card company will refuse it at confirm."""
        key = "tviva" + time.strftime("%Y%m%d%H%M%S") + secrets.token_urlsafe(6).replace("-", "x")
        key = key.replace("_", "y")
        self.sessions[key] = {"orderId": order_id, "amount": amount, "card": card}
        return key

    def post_signed_event(self, event_type: str, transmission_time: str | None = None) -> int:
        """A signed event (`payout.changed`, `seller.changed`) to the webhook URL: the two
        `v1:` values of a key rotation, the first with a retired key, the second with ours."""
        assert self.webhook_url
        body = json.dumps(
            {"eventType": event_type, "createdAt": _now(), "data": {"status": "COMPLETED"}}
        ).encode()
        sent_at = transmission_time or _now()
        retired = hmac.new(b"retired", body + b":" + sent_at.encode(), hashlib.sha256).digest()
        current = hmac.new(
            self.security_key, body + b":" + sent_at.encode(), hashlib.sha256
        ).digest()
        header = ",".join(f"v1:{base64.b64encode(mac).decode()}" for mac in (retired, current))
        return httpx.post(
            self.webhook_url,
            content=body,
            headers={
                "content-type": "application/json",
                "tosspayments-webhook-signature": header,
                "tosspayments-webhook-transmission-time": sent_at,
            },
            timeout=10,
        ).status_code

    # -- the server

    def start(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=15)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def _serve(self, method: str) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                status, reply = standin.answer(method, self.path, dict(self.headers), body)
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        return Handler

    def answer(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes]:
        lowered = {k.lower(): v for k, v in headers.items()}
        expected = "Basic " + base64.b64encode(f"{self.secret_key}:".encode()).decode()
        if lowered.get("authorization") != expected:
            return _error("UNAUTHORIZED_KEY")
        idem = lowered.get("idempotency-key")
        with self._lock:
            if idem is not None:
                self.idempotency_keys.append(idem)
                replay = self._replies.get((idem, method, path))
                if replay is not None:
                    return replay
            status, reply, changed = self._route(method, path, body)
            if idem is not None:
                self._replies[(idem, method, path)] = (status, reply)
        if changed is not None:
            self._notify(changed)
        return status, reply

    def _route(self, method: str, path: str, body: bytes) -> tuple[int, bytes, str | None]:
        parts = path.strip("/").split("/")
        if method == "POST" and parts == ["v1", "payments", "confirm"]:
            return self._confirm(json.loads(body or b"{}"))
        if method == "POST" and parts[:2] == ["v1", "payments"] and parts[3:] == ["cancel"]:
            return self._cancel(parts[2], json.loads(body or b"{}"))
        if method == "GET" and len(parts) == 3 and parts[:2] == ["v1", "payments"]:
            payment = self.payments.get(parts[2])
            if payment is None:
                return (*_error("NOT_FOUND_PAYMENT"), None)
            return 200, json.dumps(payment).encode(), None
        return (*_error("INVALID_REQUEST"), None)

    def _confirm(self, request: dict[str, Any]) -> tuple[int, bytes, str | None]:
        self.confirms += 1
        key = request.get("paymentKey")
        session = self.sessions.get(key) if isinstance(key, str) else None
        if session is None:
            return (*_error("NOT_FOUND_PAYMENT_SESSION"), None)
        if (request.get("orderId"), request.get("amount")) != (
            session["orderId"],
            session["amount"],
        ):
            # The widget bound orderId and amount to the paymentKey: any other is refused.
            return (*_error("INVALID_REQUEST"), None)
        if key in self.payments:
            return (*_error("ALREADY_PROCESSED_PAYMENT"), None)
        assert isinstance(key, str)
        payment: dict[str, Any] = {
            "mId": "tvivarepublica",
            "version": "2022-11-16",
            "paymentKey": key,
            "orderId": session["orderId"],
            "orderName": "K-ConcertBook tickets",
            "currency": "KRW",
            "method": "카드",
            "totalAmount": session["amount"],
            "balanceAmount": session["amount"],
            "requestedAt": _now(),
            "approvedAt": None,
            "lastTransactionKey": secrets.token_hex(16).upper(),
            "cancels": None,
            "failure": None,
        }
        if session["card"] == "reject":
            code = "REJECT_CARD_PAYMENT"
            payment.update(status="ABORTED", failure={"code": code, "message": ERRORS[code][1]})
            self.payments[key] = payment
            return (*_error(code), key)
        payment.update(status="DONE", approvedAt=_now())
        self.payments[key] = payment
        return 200, json.dumps(payment).encode(), key

    def _cancel(self, key: str, request: dict[str, Any]) -> tuple[int, bytes, str | None]:
        payment = self.payments.get(key)
        if payment is None:
            return (*_error("NOT_FOUND_PAYMENT"), None)
        if payment["status"] == "CANCELED":
            return (*_error("ALREADY_CANCELED_PAYMENT"), None)
        if payment["status"] not in ("DONE", "PARTIAL_CANCELED"):
            return (*_error("NOT_CANCELABLE_PAYMENT"), None)
        amount = request.get("cancelAmount", payment["balanceAmount"])
        if not isinstance(amount, int) or not 0 < amount <= payment["balanceAmount"]:
            return (*_error("NOT_CANCELABLE_AMOUNT"), None)
        payment["balanceAmount"] -= amount
        payment["status"] = "CANCELED" if payment["balanceAmount"] == 0 else "PARTIAL_CANCELED"
        payment["lastTransactionKey"] = secrets.token_hex(16).upper()
        payment["cancels"] = [
            *(payment["cancels"] or []),
            {
                "cancelAmount": amount,
                "cancelReason": request.get("cancelReason", ""),
                "canceledAt": _now(),
                "transactionKey": payment["lastTransactionKey"],
            },
        ]
        return 200, json.dumps(payment).encode(), key

    def _notify(self, payment_key: str) -> None:
        """PAYMENT_STATUS_CHANGED, posted until a 200 (a few quick retries here, where Toss
        waits 1, 4, 16... minutes)."""
        url = self.webhook_url
        if url is None:
            return
        body = json.dumps(
            {
                "eventType": "PAYMENT_STATUS_CHANGED",
                "createdAt": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f"),
                "data": self.payments[payment_key],
            }
        ).encode()

        def post() -> None:
            for attempt in range(5):
                with contextlib.suppress(httpx.HTTPError):
                    status = httpx.post(
                        url, content=body, headers={"content-type": "application/json"}
                    ).status_code
                    self.webhook_answers.append(status)
                    if status == 200:
                        return
                time.sleep(0.2 * 2**attempt)

        thread = threading.Thread(target=post, daemon=True)
        thread.start()
        self._threads.append(thread)


def _error(code: str) -> tuple[int, bytes]:
    status, message = ERRORS[code]
    return status, json.dumps({"code": code, "message": message}, ensure_ascii=False).encode()


@contextlib.contextmanager
def toss_standin(secret_key: str, security_key: bytes) -> Iterator[TossStandIn]:
    standin = TossStandIn(secret_key, security_key)
    standin.start()
    try:
        yield standin
    finally:
        standin.stop()
