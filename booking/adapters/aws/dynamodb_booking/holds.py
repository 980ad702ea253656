"""Holds: claiming places in one conditional transaction, giving them back."""

from __future__ import annotations

from typing import Any

import msgspec

from booking.adapters.aws.dynamodb_booking.common import (
    CLAIMABLE,
    GA_ATTEMPTS,
    STATE,
    STATES,
    STATUS,
    _decode_performance,
    _encode,
    _hold_of,
    expiry_keys,
)
from booking.adapters.aws.dynamodb_booking.inventory import DynamoInventory
from booking.adapters.aws.dynamodb_catalog import inventory_pk
from booking.adapters.aws.dynamodb_outbox import outbox_item
from booking.adapters.aws.dynamodb_table import (
    INVENTORY_SHARDS,
    Item,
    TransactionCancelled,
    unpack,
)
from booking.adapters.aws.idempotent import run_idempotent, stored_result
from booking.adapters.timestamps import from_ms
from booking.domain.catalog import UnitKind
from booking.domain.errors import (
    InvalidRequest,
    LimitExceeded,
    NotFound,
    SeatsUnavailable,
)
from booking.domain.holds import GaRequest, Hold, HoldItem, HoldRequest, HoldStatus
from booking.domain.messages import (
    HoldPlaced,
    HoldReleased,
)
from booking.domain.ports import (
    Idempotency,
)


class DynamoHolds(DynamoInventory):
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
