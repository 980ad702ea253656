"""Confirmation mail on the local runtime: `.eml` files, one per order, one QR code per ticket."""

from __future__ import annotations

import asyncio
import io
import json
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import segno
from PIL import Image

from booking.bootstrap import LocalRuntime
from booking.domain.messages import TicketsIssued
from booking.services.notifications import QR_SCALE, confirmation_key
from tests.support import (
    ApiDriver,
    WebhookTap,
    hold,
    order,
    post_payment,
    query,
    send_webhook,
    tickets_of,
    wait_for,
)
from workers.handlers import handlers

QR_BORDER = 4  # segno's default quiet zone, in modules


def _mail_folder(runtime: LocalRuntime) -> Path:
    return runtime.settings.local.data_dir / "mail"


def _paid_order(api: ApiDriver) -> tuple[dict[str, str], dict[str, Any], list[dict[str, Any]]]:
    """A fan's paid order of two seats and one standing place, and its tickets."""
    _, performance = api.on_sale()
    fan = api.account()
    placed = order(
        api.client,
        fan,
        hold(
            api.client,
            fan,
            performance["id"],
            ["S1-A-1", "S1-A-2"],
            [{"zone": "FLOOR", "quantity": 1}],
        )["id"],
    )
    assert post_payment(api.client, fan, placed["id"]).status_code == 202
    tickets = wait_for(lambda: tickets_of(api.client, fan, placed["id"]))
    return fan, placed, tickets


def _parse(path: Path) -> EmailMessage:
    parsed = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _qr_modules(png: bytes) -> list[list[bool]]:
    """The dark/light modules of a QR code image rendered at QR_SCALE with a 4-module border."""
    image = Image.open(io.BytesIO(png))
    image.load()
    assert image.format == "PNG"
    grey = image.convert("L")
    side = grey.width // QR_SCALE - 2 * QR_BORDER
    assert grey.width == grey.height == (side + 2 * QR_BORDER) * QR_SCALE

    def centre(module: int) -> int:
        return (module + QR_BORDER) * QR_SCALE + QR_SCALE // 2

    def dark(x: int, y: int) -> bool:
        value = grey.getpixel((centre(x), centre(y)))
        assert isinstance(value, int | float), value  # one band: a grey level
        return value < 128

    return [[dark(x, y) for x in range(side)] for y in range(side)]


def _qr_of(code: str) -> list[list[bool]]:
    return [[bool(m) for m in row] for row in segno.make_qr(code, error="m").matrix]


def _deliver(runtime: LocalRuntime, message: TicketsIssued) -> None:
    """Hand the message to the TicketsIssued handler again, as a redelivery would."""
    (handle,) = handlers(runtime)["TicketsIssued"]

    async def redeliver() -> None:
        await handle(message)

    asyncio.run(redeliver())


def test_paid_order_mails_one_confirmation_with_a_qr_code_per_ticket(
    api: ApiDriver, runtime: LocalRuntime
) -> None:
    """GIVEN a fan's order of three places WHEN it is paid over HTTP THEN one `.eml` file
    appears: to the fan, about the concert, with text and HTML parts, the codes the API
    returns, and one inline PNG QR code per ticket that carries exactly that ticket's code."""
    fan, placed, tickets = _paid_order(api)
    me = api.client.get("/api/v1/me", headers=fan).json()
    path = _mail_folder(runtime) / f"{confirmation_key(placed['id'])}.eml"
    wait_for(path.exists)
    assert [p.name for p in _mail_folder(runtime).iterdir()] == [path.name]

    mail = _parse(path)
    assert mail["To"] == me["email"]
    assert mail["From"] == runtime.settings.mail_from
    assert "Test Concert" in mail["Subject"]
    text = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert text is not None and html is not None
    text_content = text.get_content()
    html_content = html.get_content()
    codes = {t["code"] for t in tickets}
    assert len(codes) == 3
    for ticket in tickets:
        assert ticket["code"] in text_content
        assert ticket["unit_id"] in text_content

    images = [p for p in mail.walk() if p.get_content_type() == "image/png"]
    assert len(images) == len(tickets)
    decoded: set[str] = set()
    for image in images:
        cid = image["Content-ID"].strip("<>")
        assert f"cid:{cid}" in html_content
        modules = _qr_modules(image.get_content())
        matches = [code for code in codes if _qr_of(code) == modules]
        assert len(matches) == 1, "the PNG is not the QR code of exactly one ticket code"
        decoded.add(matches[0])
    assert decoded == codes


def test_duplicate_and_early_tickets_issued_send_one_mail(
    api: ApiDriver, runtime: LocalRuntime
) -> None:
    """GIVEN a paid order whose confirmation was mailed WHEN TicketsIssued is delivered
    again (twice) THEN the mail folder still holds one file, unchanged; a TicketsIssued for
    an order that is not paid mails nothing; the outbox announced the tickets once, although
    both the webhook's fast path and the OrderPaid handler issued them."""
    fan, placed, _ = _paid_order(api)
    path = _mail_folder(runtime) / f"{confirmation_key(placed['id'])}.eml"
    wait_for(path.exists)
    first = path.read_bytes()

    _deliver(runtime, TicketsIssued(placed["id"], None))
    _deliver(runtime, TicketsIssued(placed["id"], "someone"))
    assert list(_mail_folder(runtime).iterdir()) == [path]
    assert path.read_bytes() == first
    announced = query(runtime.db.path, "SELECT COUNT(*) FROM outbox WHERE topic='TicketsIssued'")
    assert announced[0][0] == 1

    _, performance = api.on_sale()
    unpaid = order(api.client, fan, hold(api.client, fan, performance["id"], ["S1-A-1"])["id"])
    _deliver(runtime, TicketsIssued(unpaid["id"], None))
    assert list(_mail_folder(runtime).iterdir()) == [path]


def test_replayed_authorized_webhook_mails_once(api: ApiDriver, runtime: LocalRuntime) -> None:
    """GIVEN the gateway's `payment.authorized` WHEN the webhook is delivered three times THEN
    the order's confirmation is one mail."""
    tap = WebhookTap()
    _, performance = api.on_sale()
    fan = api.account()
    placed = order(api.client, fan, hold(api.client, fan, performance["id"], ["S1-A-3"])["id"])
    runtime.gateway.attach(tap)
    assert post_payment(api.client, fan, placed["id"]).status_code == 202
    body = json.dumps(tap.wait_event("payment.authorized", placed["id"])).encode()
    secret = runtime.settings.resolved_webhook_secret()
    for _ in range(3):
        assert send_webhook(api.client, secret, body).status_code == 204
    path = _mail_folder(runtime) / f"{confirmation_key(placed['id'])}.eml"
    wait_for(path.exists)
    wait_for(
        lambda: (
            query(runtime.db.path, "SELECT COUNT(*) FROM outbox WHERE status='pending'")[0][0] == 0
        )
    )
    assert list(_mail_folder(runtime).iterdir()) == [path]
