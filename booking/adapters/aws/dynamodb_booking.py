"""Holds, orders, payments and tickets in DynamoDB: every claim a conditional transaction.

Each place is its own item (seats and standing places alike), spread over
INVENTORY_SHARDS partitions per performance. A hold is one TransactWriteItems:
a conditional update per place (available, or its hold/order expired at `now`),
the per-account limit counter, the hold, the idempotency record and an outbox
item; any refused condition cancels all of it. The condition is the fence:
nothing here trusts an earlier read, a cache or a lock.
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from datetime import timedelta
from typing import Any

import msgspec

from booking.adapters.aws.dynamodb_catalog import inventory_pk
from booking.adapters.aws.dynamodb_outbox import outbox_item
from booking.adapters.aws.dynamodb_table import (
    FIRST_KEY,
    INDEX_SHARDS,
    INVENTORY_SHARDS,
    Dynamo,
    Item,
    TransactionCancelled,
    shard_of,
    unpack,
)
from booking.adapters.aws.idempotent import run_idempotent, stored_result
from booking.adapters.timestamps import from_ms, to_ms
from booking.domain.catalog import Performance, UnitKind
from booking.domain.errors import (
    Conflict,
    HoldExpired,
    InvalidRequest,
    LimitExceeded,
    NotFound,
    OrderExpired,
    OrderNotPayable,
    PaymentInProgress,
    SeatsUnavailable,
)
from booking.domain.holds import GaRequest, Hold, HoldItem, HoldRequest, HoldStatus
from booking.domain.messages import (
    HoldPlaced,
    HoldReleased,
    OrderClosed,
    OrderPaid,
    OrderPlaced,
    TicketsIssued,
)
from booking.domain.orders import Order, OrderStatus
from booking.domain.payments import PAYMENT_RANK, Payment, PaymentStatus
from booking.domain.ports import (
    Availability,
    Clock,
    ConfirmOutcome,
    GradeSales,
    Idempotency,
    PlaceState,
    PlaceStatus,
    Sales,
    ZoneAvailability,
)
from booking.domain.tickets import Ticket, TicketStatus

_encode = msgspec.json.Encoder().encode
_decode_hold = msgspec.json.Decoder(Hold).decode
_decode_order = msgspec.json.Decoder(Order).decode
_decode_payment = msgspec.json.Decoder(Payment).decode
_decode_ticket = msgspec.json.Decoder(Ticket).decode
_decode_performance = msgspec.json.Decoder(Performance).decode

CLAIMABLE = "(#s = :available OR (#s IN (:held, :reserved) AND expires_at_ms <= :now))"
STATES = {":available": "available", ":held": "held", ":reserved": "reserved"}
STATE = {"#s": "state"}
STATUS = {"#s": "status"}
GA_ATTEMPTS = 4
ACTIVE_PAYMENTS = ("processing", "authorized", "captured")


def expiry_keys(kind: str, ident: str, expires_ms: int) -> dict[str, str]:
    """A sparse index of what can lapse, so the sweeper never scans the table."""
    return {
        "gsi2pk": f"EXPIRY#{shard_of(ident, INDEX_SHARDS)}",
        "gsi2sk": f"{expires_ms:013d}#{kind}#{ident}",
    }


class DynamoBookingStore:
    def __init__(self, dynamo: Dynamo, clock: Clock) -> None:
        self._db = dynamo
        self._clock = clock
        self._random = random.Random()  # noqa: S311 - spreading GA picks, not security
        self._performances: dict[str, Performance] = {}

    def _now_ms(self) -> int:
        return to_ms(self._clock.now())

    # -- holds -------------------------------------------------------------------------
    async def place_hold(self, request: HoldRequest, idem: Idempotency) -> Hold:
        self._db.operation = "place_hold"
        try:
            return await self._place_hold(request, idem)
        except (SeatsUnavailable, LimitExceeded):
            # A replay finds its own places taken (by itself): answer with what it stored.
            earlier = await stored_result(self._db, idem, Hold)
            if earlier is not None:
                return earlier
            raise

    async def stored_hold(self, idem: Idempotency) -> Hold | None:
        return await stored_result(self._db, idem, Hold)

    async def _place_hold(self, request: HoldRequest, idem: Idempotency) -> Hold:
        tidied = False
        for attempt in range(GA_ATTEMPTS):
            now_ms = self._now_ms()
            ga_units = await self._pick_ga(request, now_ms)
            try:
                return await self._try_hold(request, idem, now_ms, ga_units)
            except TransactionCancelled as exc:
                if exc.conflict or (
                    self._only_ga_failed(request, exc) and attempt + 1 < GA_ATTEMPTS
                ):
                    continue  # lost a race for standing places: pick others
                limit_index = len(request.seat_ids) + len(ga_units)
                if limit_index in exc.failed() and not tidied:
                    # Only now look for this fan's lapsed holds: they still count until ended.
                    await self._expire_own_holds(request)
                    tidied = True
                    continue
                await self._explain_refusal(request, exc, ga_units)
        raise SeatsUnavailable([], {g.zone: g.quantity for g in request.ga})

    async def _try_hold(
        self, request: HoldRequest, idem: Idempotency, now_ms: int, ga_units: list[Item]
    ) -> Hold:
        expires_ms = now_ms + request.ttl_seconds * 1000
        claim = (
            "SET #s = :held, hold_id = :h, expires_at_ms = :e, version = version + :one"
            " REMOVE order_id"
        )
        values = {**STATES, ":h": request.hold_id, ":e": expires_ms, ":now": now_ms, ":one": 1}
        items = [
            self._db.update(
                inventory_pk(request.performance_id, seat),
                seat,
                claim,
                {**values, ":seat": "seat"},
                f"attribute_exists(pk) AND kind = :seat AND {CLAIMABLE}",
                STATE,
            )
            for seat in request.seat_ids
        ]
        for unit in ga_units:
            items.append(
                self._db.update(
                    str(unit["pk"]),
                    str(unit["sk"]),
                    claim,
                    {**values, ":v": unit["version"]},
                    f"version = :v AND {CLAIMABLE}",
                    STATE,
                )
            )
        items.append(self._limit_update(request))
        hold = Hold(
            id=request.hold_id,
            performance_id=request.performance_id,
            account_id=request.account_id,
            status=HoldStatus.ACTIVE,
            items=await self._priced(request, ga_units),
            created_at=from_ms(now_ms),
            expires_at=from_ms(expires_ms),
        )
        items.append(
            self._db.put(
                {
                    "pk": f"HLD#{hold.id}",
                    "sk": "HLD",
                    "status": "active",
                    "expires_at_ms": expires_ms,
                    "account_id": hold.account_id,
                    "performance_id": hold.performance_id,
                    "quantity": hold.quantity,
                    "doc": _encode(hold),
                    # TTL only tidies a day later; expiry is decided by the write conditions.
                    "ttl": expires_ms // 1000 + 86_400,
                    "gsi1pk": f"HOLDS#{hold.account_id}#{hold.performance_id}",
                    "gsi1sk": hold.id,
                    **expiry_keys("HLD", hold.id, expires_ms),
                }
            )
        )
        items.append(
            self._db.put(
                outbox_item(HoldPlaced(hold.id, hold.performance_id, hold.quantity), now_ms)
            )
        )
        return await run_idempotent(self._db, idem, Hold, hold, items)

    async def _priced(self, request: HoldRequest, ga_units: list[Item]) -> list[HoldItem]:
        """Seat prices follow from the performance's grades (fixed once it exists)."""
        performance = self._performances.get(request.performance_id)
        if performance is None:
            item = await self._db.get(f"PRF#{request.performance_id}", "PRF")
            if item is None:
                raise NotFound("performance", request.performance_id)
            performance = _decode_performance(unpack(item["doc"]))
            self._performances[performance.id] = performance
        prices = {g.code: g.price_krw for g in performance.grades}
        seats = []
        for seat in request.seat_ids:
            section = seat.split("-", 1)[0]
            grade = performance.assignment.seats.get(seat) or performance.assignment.sections.get(
                section, ""
            )
            seats.append(HoldItem(seat, section, UnitKind.SEAT, grade, prices.get(grade, 0)))
        return seats + [
            HoldItem(
                str(u["sk"]), str(u["zone_id"]), UnitKind.GA, str(u["grade"]), int(u["price_krw"])
            )
            for u in ga_units
        ]

    def _limit_update(self, request: HoldRequest) -> dict[str, Any]:
        if request.quantity > request.ticket_limit:
            raise LimitExceeded(
                f"at most {request.ticket_limit} tickets per account for this performance"
            )
        return self._db.update(
            f"LIM#{request.performance_id}#{request.account_id}",
            "LIM",
            "SET quantity = if_not_exists(quantity, :zero) + :n",
            {":zero": 0, ":n": request.quantity, ":max": request.ticket_limit - request.quantity},
            "attribute_not_exists(quantity) OR quantity <= :max",
        )

    async def _pick_ga(self, request: HoldRequest, now_ms: int) -> list[Item]:
        """Random free standing places, so concurrent fans rarely pick the same ones."""
        picked: list[Item] = []
        for ga in request.ga:
            candidates = await self._claimable_ga(request.performance_id, ga, now_ms)
            if len(candidates) < ga.quantity:
                if not candidates and not await self._zone_exists(request.performance_id, ga.zone):
                    raise InvalidRequest(
                        f"not seats or standing zones of this performance: {ga.zone}",
                        unknown=[ga.zone],
                    )
                raise SeatsUnavailable([], {ga.zone: ga.quantity - len(candidates)})
            picked.extend(self._random.sample(candidates, ga.quantity))
        return picked

    async def _claimable_ga(self, performance_id: str, ga: GaRequest, now_ms: int) -> list[Item]:
        shards = list(range(INVENTORY_SHARDS))
        self._random.shuffle(shards)
        found: list[Item] = []
        for shard in shards:
            found += await self._db.query(
                "pk = :p",
                {
                    ":p": f"INV#{performance_id}#{shard}",
                    ":z": ga.zone,
                    ":ga": "ga",
                    **STATES,
                    ":now": now_ms,
                },
                filter_expression=f"zone_id = :z AND kind = :ga AND {CLAIMABLE}",
                names=STATE,
            )
            if len(found) >= ga.quantity * 4:
                break
        return found

    async def _zone_exists(self, performance_id: str, zone: str) -> bool:
        for shard in range(INVENTORY_SHARDS):
            if await self._db.query(
                "pk = :p",
                {":p": f"INV#{performance_id}#{shard}", ":z": zone},
                filter_expression="zone_id = :z",
            ):
                return True
        return False

    def _only_ga_failed(self, request: HoldRequest, exc: TransactionCancelled) -> bool:
        seats, ga = len(request.seat_ids), sum(g.quantity for g in request.ga)
        failed = exc.failed()
        return bool(failed) and all(seats <= i < seats + ga for i in failed)

    async def _explain_refusal(
        self, request: HoldRequest, exc: TransactionCancelled, ga_units: list[Item]
    ) -> None:
        seats = len(request.seat_ids)
        failed = set(exc.failed())
        if seats + len(ga_units) in failed:
            raise LimitExceeded(
                f"at most {request.ticket_limit} tickets per account for this performance"
            )
        taken: list[str] = []
        unknown: list[str] = []
        until_ms: dict[str, int | None] = {}
        for index in sorted(i for i in failed if i < seats):
            seat = request.seat_ids[index]
            old = exc.old_items[index] or await self._db.get(
                inventory_pk(request.performance_id, seat), seat
            )
            if old is None or old.get("kind") != "seat":
                unknown.append(seat)
                continue
            taken.append(seat)
            # When the claim that refused us lapses: what a pre-claim may remember.
            lapses = old.get("state") in ("held", "reserved") and "expires_at_ms" in old
            until_ms[seat] = int(old["expires_at_ms"]) if lapses else None
        if unknown:
            raise InvalidRequest(
                f"not seats or standing zones of this performance: {', '.join(sorted(unknown))}",
                unknown=sorted(unknown),
            )
        short = {g.zone: g.quantity for g in request.ga} if any(i >= seats for i in failed) else {}
        raise SeatsUnavailable(sorted(taken), short, until_ms)

    async def _expire_own_holds(self, request: HoldRequest) -> None:
        """Lapsed holds of this fan stop counting against its limit before it is checked."""
        candidates = await self._db.query(
            "gsi1pk = :k",
            {":k": f"HOLDS#{request.account_id}#{request.performance_id}"},
            index="gsi1",
        )
        now_ms = self._now_ms()
        for item in candidates:
            if int(item["expires_at_ms"]) <= now_ms:
                await self._end_hold(str(item["pk"]).removeprefix("HLD#"), HoldStatus.EXPIRED)

    async def get_hold(self, hold_id: str) -> Hold | None:
        item = await self._db.get(f"HLD#{hold_id}", "HLD")
        return None if item is None else _hold_of(item)

    async def release_hold(self, hold_id: str) -> Hold:
        self._db.operation = "release_hold"
        item = await self._db.get(f"HLD#{hold_id}", "HLD")
        if item is None:
            raise NotFound("hold", hold_id)
        hold = _hold_of(item)
        hold.require_active(self._clock.now())
        await self._end_hold(hold_id, HoldStatus.RELEASED)
        return msgspec.structs.replace(hold, status=HoldStatus.RELEASED)

    async def _end_hold(self, hold_id: str, status: HoldStatus) -> None:
        """Give back whatever of the hold's places it still has; idempotent and race-safe."""
        for _ in range(GA_ATTEMPTS):
            item = await self._db.get(f"HLD#{hold_id}", "HLD")
            if item is None or item["status"] != "active":
                return
            hold = _hold_of(item)
            now_ms = self._now_ms()
            units = await self._units_of(hold.performance_id, [i.unit_id for i in hold.items])
            items = [
                self._db.update(
                    str(u["pk"]),
                    str(u["sk"]),
                    "SET #s = :available, version = version + :one REMOVE hold_id, expires_at_ms",
                    {":available": "available", ":held": "held", ":h": hold_id, ":one": 1},
                    "#s = :held AND hold_id = :h",
                    STATE,
                )
                for u in units
                if u.get("hold_id") == hold_id and u.get("state") == "held"
            ]
            items.append(
                self._db.update(
                    f"HLD#{hold_id}",
                    "HLD",
                    "SET #s = :to REMOVE gsi1pk, gsi1sk, gsi2pk, gsi2sk",
                    {":to": status.value, ":active": "active"},
                    "#s = :active",
                    STATUS,
                )
            )
            items.append(self._give_back(hold.performance_id, hold.account_id, hold.quantity))
            items.append(
                self._db.put(
                    outbox_item(HoldReleased(hold_id, hold.performance_id, status), now_ms)
                )
            )
            try:
                await self._db.transact(items)
                return
            except TransactionCancelled:
                continue  # a place moved meanwhile; read again

    def _give_back(self, performance_id: str, account_id: str, quantity: int) -> dict[str, Any]:
        return self._db.update(
            f"LIM#{performance_id}#{account_id}",
            "LIM",
            "SET quantity = quantity - :n",
            {":n": quantity},
            "quantity >= :n",
        )

    async def _units_of(self, performance_id: str, unit_ids: list[str]) -> list[Item]:
        found = await asyncio.gather(
            *(self._db.get(inventory_pk(performance_id, u), u) for u in unit_ids)
        )
        return [u for u in found if u is not None]

    async def _all_units(self, performance_id: str) -> list[Item]:
        shards = await asyncio.gather(
            *(
                self._db.query("pk = :p", {":p": f"INV#{performance_id}#{shard}"})
                for shard in range(INVENTORY_SHARDS)
            )
        )
        return [unit for shard in shards for unit in shard]

    async def availability(self, performance_id: str) -> Availability:
        self._db.operation = "availability"
        now = self._clock.now()
        now_ms = to_ms(now)
        counts: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0, 0])
        for unit in await self._all_units(performance_id):
            row = counts[(str(unit["zone_id"]), str(unit["kind"]), str(unit["grade"]))]
            row[0] = int(unit["price_krw"])
            row[1] += 1
            row[2 + _STATE_INDEX[_visible_state(unit, now_ms)]] += 1
        zones = [
            ZoneAvailability(zone, kind, grade, *row)
            for (zone, kind, grade), row in sorted(counts.items())
        ]
        return Availability(
            performance_id=performance_id,
            as_of=now,
            capacity=sum(z.capacity for z in zones),
            available=sum(z.available for z in zones),
            held=sum(z.held for z in zones),
            sold=sum(z.sold for z in zones),
            blocked=sum(z.blocked for z in zones),
            zones=zones,
        )

    async def place_states(self, performance_id: str, zone_id: str | None) -> list[PlaceStatus]:
        now_ms = self._now_ms()
        return sorted(
            (
                PlaceStatus(
                    str(u["sk"]),
                    str(u["zone_id"]),
                    str(u["grade"]),
                    PlaceState(_visible_state(u, now_ms)),
                )
                for u in await self._all_units(performance_id)
                if u["kind"] == "seat" and (zone_id is None or u["zone_id"] == zone_id)
            ),
            key=lambda p: p.unit_id,
        )

    async def sales(self, performance_id: str) -> Sales:
        sold = [u for u in await self._all_units(performance_id) if u["state"] == "sold"]
        by_grade: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for unit in sold:
            by_grade[str(unit["grade"])][0] += 1
            by_grade[str(unit["grade"])][1] += int(unit["price_krw"])
        grades = [GradeSales(g, n, krw) for g, (n, krw) in sorted(by_grade.items())]
        return Sales(
            performance_id=performance_id,
            as_of=self._clock.now(),
            sold=len(sold),
            revenue_krw=sum(g.revenue_krw for g in grades),
            paid_orders=len({u["order_id"] for u in sold}),
            grades=grades,
        )

    # -- orders ------------------------------------------------------------------------
    async def place_order(
        self, order_id: str, hold_id: str, payment_window: timedelta, idem: Idempotency
    ) -> Order:
        self._db.operation = "place_order"
        item = await self._db.get(f"HLD#{hold_id}", "HLD")
        if item is None:
            raise NotFound("hold", hold_id)
        hold = _hold_of(item)
        earlier = await stored_result(self._db, idem, Order)
        if earlier is not None:
            return earlier
        now_ms = self._now_ms()
        hold.require_active(from_ms(now_ms))
        deadline_ms = now_ms + int(payment_window.total_seconds() * 1000)
        # The hold's expiry is part of the condition of the confirming write.
        items = [
            self._db.update(
                inventory_pk(hold.performance_id, i.unit_id),
                i.unit_id,
                "SET #s = :reserved, order_id = :o, expires_at_ms = :d, version = version + :one",
                {
                    ":reserved": "reserved",
                    ":held": "held",
                    ":o": order_id,
                    ":d": deadline_ms,
                    ":h": hold_id,
                    ":now": now_ms,
                    ":one": 1,
                },
                "#s = :held AND hold_id = :h AND expires_at_ms > :now",
                STATE,
            )
            for i in hold.items
        ]
        items.append(
            self._db.update(
                f"HLD#{hold_id}",
                "HLD",
                "SET #s = :ordered REMOVE gsi1pk, gsi1sk, gsi2pk, gsi2sk",
                {":ordered": "ordered", ":active": "active", ":now": now_ms},
                "#s = :active AND expires_at_ms > :now",
                STATUS,
            )
        )
        order = Order(
            id=order_id,
            performance_id=hold.performance_id,
            account_id=hold.account_id,
            hold_id=hold_id,
            status=OrderStatus.PENDING_PAYMENT,
            items=hold.items,
            total_krw=hold.total_krw,
            created_at=from_ms(now_ms),
            payment_deadline=from_ms(deadline_ms),
        )
        items.append(
            self._db.put(
                {
                    "pk": f"ORD#{order.id}",
                    "sk": "ORD",
                    "status": order.status.value,
                    "payment_deadline_ms": deadline_ms,
                    "quantity": hold.quantity,
                    "account_id": order.account_id,
                    "performance_id": order.performance_id,
                    "doc": _encode(order),
                    "gsi1pk": f"ORDERS#{order.account_id}",
                    "gsi1sk": order.id,
                    **expiry_keys("ORD", order.id, deadline_ms),
                }
            )
        )
        items.append(
            self._db.put(
                outbox_item(OrderPlaced(order.id, order.performance_id, order.total_krw), now_ms)
            )
        )
        try:
            return await run_idempotent(self._db, idem, Order, order, items)
        except TransactionCancelled as exc:
            current = _hold_of(await self._db.get(f"HLD#{hold_id}", "HLD") or item)
            if (
                current.effective_status(from_ms(self._now_ms())) is HoldStatus.ACTIVE
                and exc.conflict
            ):
                raise Conflict("the hold changed while ordering; try again") from exc
            raise HoldExpired(f"hold {hold_id} expired at {hold.expires_at.isoformat()}") from exc

    async def get_order(self, order_id: str) -> Order | None:
        item = await self._db.get(f"ORD#{order_id}", "ORD")
        return None if item is None else _order_of(item)

    async def list_orders(self, account_id: str, limit: int, after: str | None) -> list[Order]:
        items = await self._db.query(
            "gsi1pk = :a AND gsi1sk > :after",
            {":a": f"ORDERS#{account_id}", ":after": after or FIRST_KEY},
            index="gsi1",
            limit=limit,
        )
        return [_order_of(i) for i in items]

    async def close_order(self, order_id: str, refund: bool) -> Order:
        self._db.operation = "close_order"
        order = await self.get_order(order_id)
        if order is None:
            raise NotFound("order", order_id)
        if refund:
            if order.status is not OrderStatus.PAID:
                raise Conflict(f"order {order_id} is {order.status}, not paid")
            return await self._close(order, OrderStatus.REFUNDED, refund=True)
        if order.status is not OrderStatus.PENDING_PAYMENT:
            raise Conflict(f"order {order_id} is {order.status}")
        if to_ms(order.payment_deadline) <= self._now_ms():
            raise OrderExpired(f"order {order_id} passed its payment deadline")
        return await self._close(order, OrderStatus.CANCELLED, refund=False)

    async def _close(self, order: Order, status: OrderStatus, refund: bool) -> Order:
        """End an order: places back on sale, tickets void, money returned (by a message)."""
        for _ in range(GA_ATTEMPTS):
            item = await self._db.get(f"ORD#{order.id}", "ORD")
            if item is None or item["status"] != order.status.value:
                current = None if item is None else _order_of(item)
                if current is not None and current.status is status:
                    return current
                raise Conflict(f"order {order.id} changed meanwhile")
            now_ms = self._now_ms()
            units = await self._units_of(order.performance_id, [i.unit_id for i in order.items])
            items = [
                self._db.update(
                    str(u["pk"]),
                    str(u["sk"]),
                    "SET #s = :available, version = version + :one"
                    " REMOVE order_id, hold_id, expires_at_ms",
                    {
                        ":available": "available",
                        ":o": order.id,
                        ":r": "reserved",
                        ":sold": "sold",
                        ":one": 1,
                    },
                    "order_id = :o AND #s IN (:r, :sold)",
                    STATE,
                )
                for u in units
                if u.get("order_id") == order.id and u.get("state") in ("reserved", "sold")
            ]
            items.append(
                self._db.update(
                    f"ORD#{order.id}",
                    "ORD",
                    "SET #s = :to, closed_at_ms = :now REMOVE gsi2pk, gsi2sk",
                    {":to": status.value, ":from": order.status.value, ":now": now_ms},
                    "#s = :from",
                    STATUS,
                )
            )
            tickets = await self.tickets_for_order(order.id)
            for ticket in tickets:
                if ticket.status is TicketStatus.VALID:
                    items.append(
                        self._db.update(
                            f"TKT#{ticket.id}",
                            "TKT",
                            "SET #s = :void",
                            {":void": "void"},
                            names=STATUS,
                        )
                    )
                    items.append(
                        self._db.delete(
                            f"TKTUNIT#{ticket.performance_id}#{ticket.unit_id}", "TKTUNIT"
                        )
                    )
            items.append(self._give_back(order.performance_id, order.account_id, len(order.items)))
            payment = await self._active_payment(item)
            items.append(
                self._db.put(
                    outbox_item(
                        OrderClosed(
                            order.id,
                            status,
                            payment.gateway_payment_id if payment else None,
                            refund,
                        ),
                        now_ms,
                    )
                )
            )
            try:
                await self._db.transact(items)
            except TransactionCancelled:
                continue
            return msgspec.structs.replace(order, status=status, closed_at=from_ms(now_ms))
        raise Conflict(f"order {order.id} is too busy to close; try again")

    async def _active_payment(self, order_item: Item) -> Payment | None:
        ident = order_item.get("paid_payment_id") or order_item.get("active_payment_id")
        if not ident:
            return None
        payment = await self.get_payment(str(ident))
        return payment if payment and payment.status.value in ACTIVE_PAYMENTS else None

    # -- payments ----------------------------------------------------------------------
    async def add_payment(self, payment: Payment, idem: Idempotency) -> Payment:
        self._db.operation = "add_payment"
        now_ms = self._now_ms()
        items = [
            self._db.update(
                f"ORD#{payment.order_id}",
                "ORD",
                "SET active_payment_id = :p",
                {":p": payment.id, ":pending": "pending_payment", ":now": now_ms},
                "#s = :pending AND payment_deadline_ms > :now"
                " AND attribute_not_exists(active_payment_id)",
                STATUS,
            ),
            self._db.put(
                {
                    "pk": f"PAY#{payment.id}",
                    "sk": "PAY",
                    "order_id": payment.order_id,
                    "account_id": payment.account_id,
                    "gateway_payment_id": payment.gateway_payment_id,
                    "status": payment.status.value,
                    "updated_at_ms": now_ms,
                    "doc": _encode(payment),
                    "gsi1pk": f"PAYMENTS#{payment.order_id}",
                    "gsi1sk": payment.id,
                },
                "attribute_not_exists(pk)",
            ),
            self._db.put(
                {
                    "pk": f"GWPAY#{payment.gateway_payment_id}",
                    "sk": "GWPAY",
                    "payment_id": payment.id,
                },
                "attribute_not_exists(pk)",
            ),
        ]
        try:
            return await run_idempotent(self._db, idem, Payment, payment, items)
        except TransactionCancelled as exc:
            order = await self._db.get(f"ORD#{payment.order_id}", "ORD")
            if order is None:
                raise NotFound("order", payment.order_id) from exc
            if order["status"] != "pending_payment":
                raise OrderNotPayable(f"order {payment.order_id} is {order['status']}") from exc
            if int(order["payment_deadline_ms"]) <= now_ms:
                raise OrderExpired(f"order {payment.order_id} passed its payment deadline") from exc
            raise PaymentInProgress(
                f"payment {order.get('active_payment_id')} for this order is still in progress"
            ) from exc

    async def get_payment(self, payment_id: str) -> Payment | None:
        item = await self._db.get(f"PAY#{payment_id}", "PAY")
        return None if item is None else _payment_of(item)

    async def payment_by_gateway_id(self, gateway_payment_id: str) -> Payment | None:
        link = await self._db.get(f"GWPAY#{gateway_payment_id}", "GWPAY")
        return None if link is None else await self.get_payment(str(link["payment_id"]))

    async def payments_for_order(self, order_id: str) -> list[Payment]:
        items = await self._db.query("gsi1pk = :o", {":o": f"PAYMENTS#{order_id}"}, index="gsi1")
        return [_payment_of(i) for i in items]

    async def advance_payment(
        self, payment_id: str, status: PaymentStatus, decline_reason: str | None
    ) -> bool:
        """Move a payment forward only: a late or repeated event changes nothing."""
        lower = [s.value for s, rank in PAYMENT_RANK.items() if rank < PAYMENT_RANK[status]]
        marks = {f":l{i}": v for i, v in enumerate(lower)}
        expression = "SET #s = :to, updated_at_ms = :now"
        values: dict[str, object] = {":to": status.value, ":now": self._now_ms(), **marks}
        if decline_reason is not None:
            expression += ", decline_reason = :why"
            values[":why"] = decline_reason
        try:
            await self._db.transact(
                [
                    self._db.update(
                        f"PAY#{payment_id}",
                        "PAY",
                        expression,
                        values,
                        f"#s IN ({', '.join(marks)})",
                        STATUS,
                    )
                ]
            )
        except TransactionCancelled:
            return False
        if status is PaymentStatus.DECLINED:
            payment = await self.get_payment(payment_id)
            if payment is not None:
                # The order may be paid again with another card.
                with _ignore_refusal():
                    await self._db.transact(
                        [
                            self._db.update(
                                f"ORD#{payment.order_id}",
                                "ORD",
                                "REMOVE active_payment_id",
                                {":p": payment_id},
                                "active_payment_id = :p",
                            )
                        ]
                    )
        return True

    async def confirm_order(self, payment_id: str, status: PaymentStatus) -> ConfirmOutcome:
        self._db.operation = "confirm_order"
        payment = await self.get_payment(payment_id)
        if payment is None:
            raise NotFound("payment", payment_id)
        for _ in range(GA_ATTEMPTS):
            item = await self._db.get(f"ORD#{payment.order_id}", "ORD")
            if item is None:
                raise NotFound("order", payment.order_id)
            order = _order_of(item)
            if order.status is OrderStatus.PAID and item.get("paid_payment_id") == payment_id:
                return ConfirmOutcome.ALREADY_PAID
            await self.advance_payment(payment_id, status, None)
            refund = status is PaymentStatus.CAPTURED
            now_ms = self._now_ms()
            if order.status is not OrderStatus.PENDING_PAYMENT:
                await self._db.transact(
                    [
                        self._db.put(
                            outbox_item(
                                OrderClosed(
                                    order.id, order.status, payment.gateway_payment_id, refund
                                ),
                                now_ms,
                            )
                        )
                    ]
                )
                return ConfirmOutcome.CLOSED
            items = [
                self._db.update(
                    inventory_pk(order.performance_id, i.unit_id),
                    i.unit_id,
                    "SET #s = :sold, version = version + :one REMOVE expires_at_ms",
                    {
                        ":sold": "sold",
                        ":reserved": "reserved",
                        ":o": order.id,
                        ":now": now_ms,
                        ":one": 1,
                    },
                    "#s = :reserved AND order_id = :o AND expires_at_ms > :now",
                    STATE,
                )
                for i in order.items
            ]
            items.append(
                self._db.update(
                    f"ORD#{order.id}",
                    "ORD",
                    "SET #s = :paid, paid_payment_id = :p, paid_at_ms = :now REMOVE gsi2pk, gsi2sk",
                    {
                        ":paid": "paid",
                        ":p": payment_id,
                        ":pending": "pending_payment",
                        ":now": now_ms,
                    },
                    "#s = :pending AND payment_deadline_ms > :now",
                    STATUS,
                )
            )
            items.append(
                self._db.put(
                    outbox_item(OrderPaid(order.id, payment_id, payment.gateway_payment_id), now_ms)
                )
            )
            try:
                await self._db.transact(items)
            except TransactionCancelled as exc:
                if exc.conflict:
                    continue
                current = _order_of(await self._db.get(f"ORD#{order.id}", "ORD") or item)
                if current.status is OrderStatus.PENDING_PAYMENT:
                    # Past the deadline: the order ends and the money goes back.
                    await self._close(current, OrderStatus.EXPIRED, refund=refund)
                    return ConfirmOutcome.EXPIRED
                continue
            return ConfirmOutcome.CONFIRMED
        return ConfirmOutcome.CLOSED

    # -- tickets -----------------------------------------------------------------------
    async def issue_tickets(self, order_id: str, tickets: list[Ticket]) -> None:
        self._db.operation = "issue_tickets"
        existing = await asyncio.gather(*(self._db.get(f"TKT#{t.id}", "TKT") for t in tickets))
        items: list[dict[str, Any]] = [
            self._db.check(f"ORD#{order_id}", "ORD", "#s = :paid", {":paid": "paid"})
        ]
        items[0]["ConditionCheck"]["ExpressionAttributeNames"] = STATUS
        ticket_puts: set[int] = set()
        for ticket, found in zip(tickets, existing, strict=True):
            if found is not None:
                continue
            items.append(
                self._db.put(
                    {
                        "pk": f"TKTUNIT#{ticket.performance_id}#{ticket.unit_id}",
                        "sk": "TKTUNIT",
                        "ticket_id": ticket.id,
                    },
                    "attribute_not_exists(pk) OR ticket_id = :t",
                    {":t": ticket.id},
                )
            )
            # Created once: an issuer that read before another's commit must not rewrite
            # the ticket (its issue time, or a status it has moved on to since).
            ticket_puts.add(len(items))
            items.append(
                self._db.put(
                    {
                        "pk": f"TKT#{ticket.id}",
                        "sk": "TKT",
                        "status": ticket.status.value,
                        "doc": _encode(ticket),
                        "gsi1pk": f"TICKETS#{order_id}",
                        "gsi1sk": ticket.id,
                        "gsi2pk": f"ACCTICKETS#{ticket.account_id}",
                        "gsi2sk": ticket.id,
                    },
                    "attribute_not_exists(pk)",
                )
            )
        if len(items) == 1:
            return  # all issued before: announced then
        # Announced with the tickets it is about; concurrent issuers may both announce,
        # which the mail's own once-per-order key absorbs.
        items.append(
            self._db.put(
                outbox_item(TicketsIssued(order_id, tickets[0].account_id), self._now_ms())
            )
        )
        try:
            await self._db.transact(items)
        except TransactionCancelled as exc:
            failed = set(exc.failed())
            if 0 in failed:
                return  # no longer paid: no tickets
            if failed <= ticket_puts:
                return  # a concurrent issuer created these tickets first
            raise RuntimeError(f"a place of order {order_id} already has a valid ticket") from exc

    async def tickets_for_order(self, order_id: str) -> list[Ticket]:
        items = await self._db.query("gsi1pk = :o", {":o": f"TICKETS#{order_id}"}, index="gsi1")
        return [_ticket_of(i) for i in items]

    async def list_tickets(self, account_id: str, limit: int, after: str | None) -> list[Ticket]:
        items = await self._db.query(
            "gsi2pk = :a AND gsi2sk > :after",
            {":a": f"ACCTICKETS#{account_id}", ":after": after or FIRST_KEY},
            index="gsi2",
            limit=limit,
        )
        return [_ticket_of(i) for i in items]

    async def get_ticket(self, ticket_id: str) -> Ticket | None:
        item = await self._db.get(f"TKT#{ticket_id}", "TKT")
        return None if item is None else _ticket_of(item)

    # -- expiry ------------------------------------------------------------------------
    async def expire_due(self, limit: int) -> int:
        """Mark what has lapsed; the claim conditions never needed this to stay correct."""
        self._db.operation = "expire_due"
        now_ms = self._now_ms()
        swept = 0
        for shard in range(INDEX_SHARDS):
            due = await self._db.query(
                "gsi2pk = :s AND gsi2sk < :now",
                {":s": f"EXPIRY#{shard}", ":now": f"{now_ms:013d}~"},
                index="gsi2",
                limit=limit,
            )
            for entry in due:
                kind, ident = str(entry["gsi2sk"]).split("#")[1:3]
                if kind == "HLD":
                    await self._end_hold(ident, HoldStatus.EXPIRED)
                    swept += 1
                    continue
                order = await self.get_order(ident)
                if order is not None and order.status is OrderStatus.PENDING_PAYMENT:
                    with _ignore_refusal():
                        await self._close(order, OrderStatus.EXPIRED, refund=False)
                        swept += 1
        return swept


class _ignore_refusal:  # noqa: N801 - used as a context manager
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> bool:
        return kind is not None and issubclass(kind, (TransactionCancelled, Conflict))


_STATE_INDEX = {"available": 0, "held": 1, "sold": 2, "blocked": 3}


def _visible_state(unit: Item, now_ms: int) -> str:
    state = str(unit["state"])
    if state in ("held", "reserved"):
        return "held" if int(unit["expires_at_ms"]) > now_ms else "available"
    return state


def _hold_of(item: Item) -> Hold:
    return msgspec.structs.replace(
        _decode_hold(item["doc"]), status=HoldStatus(str(item["status"]))
    )


def _order_of(item: Item) -> Order:
    paid, closed = item.get("paid_at_ms"), item.get("closed_at_ms")
    return msgspec.structs.replace(
        _decode_order(item["doc"]),
        status=OrderStatus(str(item["status"])),
        paid_at=from_ms(int(paid)) if paid is not None else None,
        closed_at=from_ms(int(closed)) if closed is not None else None,
    )


def _payment_of(item: Item) -> Payment:
    return msgspec.structs.replace(
        _decode_payment(item["doc"]),
        status=PaymentStatus(str(item["status"])),
        decline_reason=item.get("decline_reason"),
        updated_at=from_ms(int(item["updated_at_ms"])),
    )


def _ticket_of(item: Item) -> Ticket:
    return msgspec.structs.replace(
        _decode_ticket(item["doc"]), status=TicketStatus(str(item["status"]))
    )
