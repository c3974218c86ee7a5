# edge: Redis, the registry that the processes of a fleet share
"""The fleet's registry in Redis (``REDIS_URL``): every process of a deployment, on
one host or many, sees the same calls, capacity, stream tokens and answers.

- **Who holds a call**: ``held`` maps each CallSid in progress to its process; each
  process renews a lease (``lease_s``, renewed four times a lease) while it lives, so
  a call whose process died (SIGKILL, a lost host) is known within a lease: it is
  *orphaned*. Whichever process finds it first (its heartbeat, or Twilio's ``/call-ended``)
  closes it as failed (``on_orphan``: the call record) and the ``<Connect action>``
  answers the apology.
- **Capacity and tokens**: calls held plus stream tokens issued and not yet used (one
  per CallSid) count against ``max_calls`` for the whole fleet; a token is used once,
  fleet-wide (its nonce is remembered until it expires). Checked and taken atomically
  (Lua, ``app/registry/scripts.py``). The token itself is the HMAC of
  ``app/telephony/stream_tokens.py``: Redis holds only which one is live and which were used.
- **Controls** travel on the holder's channel, sealed (``app/registry/sealed.py``:
  HMAC, expiry, a nonce refused the second time), and its sealed reply comes back on
  the sender's channel; 202 is answered only once the call took it.
- **What the <Connect action> answers** (a transfer's number, the apology) is sealed too,
  so nobody who can write to Redis but lacks the deployment's secret dials a number.

Redis unreachable: calls in progress go on (what they report is kept here and written
when Redis is back: the heartbeat re-asserts this process's calls and replays its
releases); new calls get the busy answer (:data:`UNREACHABLE`), counted by
``on_down``; operator controls answer 503. See docs/scaling.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.call.controls import Control, Reply
from app.errors import (
    CallNotHere,
    CallRefused,
    ControlTimeout,
    RegistryUnavailable,
    TokenRejected,
    UntrustedMessage,
)
from app.registry import scripts
from app.registry.base import (
    ENDED,
    IN_PROGRESS,
    NO_ROOM,
    AfterStream,
    Apologise,
    Deliver,
    Dial,
    Load,
)
from app.registry.base import busy as busy_reason
from app.registry.memory import MEMORY_LIMIT, bounded_put
from app.registry.messages import (
    after_body,
    after_of,
    control_body,
    control_of,
    reply_body,
    reply_of,
)
from app.registry.sealed import Seal
from app.registry.throttle import FailureThrottle
from app.telephony.sids import is_softphone
from app.telephony.stream_tokens import StreamTokens

log = logging.getLogger(__name__)

UNREACHABLE = "the shared registry (Redis) is unreachable"
DOWN_ERRORS = (RedisError, OSError)
OnOrphan = Callable[[str, str], Awaitable[None]]


def text(value: bytes | str) -> str:
    """A reply from Redis as text, whether the client decodes responses or not."""
    return value.decode() if isinstance(value, bytes) else value


def orphan_reason(process: str) -> str:
    return f"orphaned: the process holding the call ({process}) stopped"


class Keys:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.held, self.pending, self.ended = (
            f"{prefix}:{k}" for k in ("held", "pending", "ended")
        )
        self.after, self.after_order = f"{prefix}:after", f"{prefix}:after-order"
        self.transfers, self.seq = f"{prefix}:transfers", f"{prefix}:seq"

    def lease(self, process: str) -> str:
        return f"{self.prefix}:lease:{process}"

    def used(self, nonce: str) -> str:
        return f"{self.prefix}:used:{nonce}"

    def nonce(self, nonce: str) -> str:
        return f"{self.prefix}:nonce:{nonce}"

    def controls(self, process: str) -> str:
        return f"{self.prefix}:controls:{process}"

    def replies(self, process: str) -> str:
        return f"{self.prefix}:replies:{process}"


class RedisRegistry:
    def __init__(
        self,
        client: Redis,
        tokens: StreamTokens,
        seal: Seal,
        max_calls: int,
        max_softphone_calls: int = 3,
        process: str = "this process",
        *,
        prefix: str = "phonebot",
        lease_s: float = 4.0,
        control_timeout_s: float = 5.0,
        limit: int = MEMORY_LIMIT,
        clock: Callable[[], float] = time.time,
        on_orphan: OnOrphan | None = None,
        on_down: Callable[[], None] | None = None,
    ) -> None:
        self.client = client
        self.tokens = tokens
        self.seal = seal
        self.max_calls = max_calls
        self.max_softphone_calls = max_softphone_calls
        self._process = process
        self.keys = Keys(prefix)
        self.lease_s = lease_s
        self.control_timeout_s = control_timeout_s
        self.limit = limit
        self.clock = clock
        self.on_orphan = on_orphan
        self.on_down = on_down
        self.down = False
        self.refused_messages = 0  # forged, expired or replayed messages read from Redis
        self._deliver: Deliver | None = None
        self._here: set[str] = set()  # calls this process holds (re-asserted after an outage)
        self._backlog: list[tuple[str, str]] = []  # releases Redis missed: (CallSid, sealed)
        self._after: OrderedDict[str, AfterStream] = OrderedDict()  # this process's answers
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._answering: set[asyncio.Task[None]] = set()
        self._scripts = {
            name: client.register_script(getattr(scripts, name))
            for name in ("OFFER", "ADMIT", "RELEASE", "TRANSFERRING", "TAKE_AFTER")
        }

    @property
    def process(self) -> str:
        return self._process

    # the connection's state

    def _went_down(self, doing: str, error: BaseException) -> None:
        if not self.down:
            log.error(
                "%s while %s (%s): calls in progress go on; new calls get the busy answer"
                " until it is back",
                UNREACHABLE,
                doing,
                error,
            )
        self.down = True
        if self.on_down is not None:
            self.on_down()

    async def _script(
        self, name: str, keys: list[str], args: list[str | int | float], doing: str
    ) -> Any:
        try:
            return await self._scripts[name](keys=keys, args=args)
        except DOWN_ERRORS as error:
            self._went_down(doing, error)
            raise RegistryUnavailable(UNREACHABLE) from None

    # lifecycle

    async def open(self, deliver: Deliver) -> None:
        self._deliver = deliver
        try:
            await self.client.set(self.keys.lease(self.process), "1", px=int(self.lease_s * 1000))
        except DOWN_ERRORS as error:
            raise RegistryUnavailable(f"{UNREACHABLE} ({error})") from None
        ready = asyncio.Event()
        self._tasks = [
            asyncio.create_task(self._heartbeat(), name="registry heartbeat"),
            asyncio.create_task(self._listen(ready), name="registry listener"),
        ]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.lease_s):
                await ready.wait()

    async def aclose(self) -> None:
        self._deliver = None
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        with contextlib.suppress(*DOWN_ERRORS):
            await self.client.delete(self.keys.lease(self.process))
        await self.client.aclose()

    # a call about to connect, and its stream's start

    def _limit(self, call_sid: str) -> int:
        return self.max_softphone_calls if is_softphone(call_sid) else self.max_calls

    async def offer(self, call_sid: str) -> str:
        now = self.clock()
        token, nonce, expiry = self.tokens.mint(call_sid, now)
        keys = [self.keys.held, self.keys.pending, self.keys.ended]
        try:
            answer = await self._script(
                "OFFER", keys, [call_sid, now, self._limit(call_sid), nonce, expiry], "offering"
            )
        except RegistryUnavailable:
            raise CallRefused(UNREACHABLE) from None
        answer = text(answer)
        if answer == "held":
            raise CallRefused(IN_PROGRESS, replayed=True)
        if answer == "ended":
            raise CallRefused(ENDED, replayed=True)
        if answer == "busy":
            raise CallRefused(busy_reason(self._limit(call_sid)))
        return token

    async def admit(self, call_sid: str, token: str) -> str | None:
        now = self.clock()
        try:
            nonce, expiry = self.tokens.check(token, call_sid, now)
        except TokenRejected as rejected:
            return rejected.reason
        k = self.keys
        keys = [k.held, k.pending, k.ended, k.used(nonce), k.transfers, k.after, k.after_order]
        used_ms = max(1, int((expiry - now) * 1000) + 1000)
        args: list[str | int | float] = [
            call_sid,
            nonce,
            now,
            self._limit(call_sid),
            self.process,
            used_ms,
        ]
        try:
            answer = await self._script("ADMIT", keys, args, "admitting a stream")
        except RegistryUnavailable:
            return UNREACHABLE
        if text(answer) == "ok":
            self._here.add(call_sid)
            self._after.pop(call_sid, None)
            return None
        return {
            "used": "stream token already used",
            "superseded": "stream token superseded by a newer one for this call",
            "over": "that call is already in progress or has ended",
        }.get(text(answer), NO_ROOM)

    # a call's end, and what the <Connect action> answers

    def _sealed_after(self, call_sid: str, after: AfterStream) -> str:
        return self.seal.seal("after", after_body(call_sid, after), self.clock())

    async def transferring(self, call_sid: str, number: str | None) -> None:
        try:
            if number is None:
                await self.client.hdel(self.keys.transfers, call_sid)
            else:
                sealed = self._sealed_after(call_sid, Dial(number))
                await self._scripts["TRANSFERRING"](
                    keys=[self.keys.held, self.keys.transfers], args=[call_sid, sealed]
                )
        except DOWN_ERRORS as error:
            self._went_down(f"noting call {call_sid}'s transfer", error)

    async def release(self, call_sid: str, after: AfterStream | None) -> None:
        self._here.discard(call_sid)
        if after is not None:
            bounded_put(self._after, call_sid, after, self.limit)
        sealed = "" if after is None else self._sealed_after(call_sid, after)
        try:
            await self._release(call_sid, self.process, sealed, orphan=False)
        except RegistryUnavailable:
            self._backlog.append((call_sid, sealed))
            log.warning("call %s: its end is kept here until Redis is back", call_sid)

    async def _release(self, call_sid: str, process: str, sealed: str, *, orphan: bool) -> bool:
        k = self.keys
        keys = [k.held, k.ended, k.transfers, k.after, k.after_order, k.seq, k.lease(process)]
        args: list[str | int | float] = [
            call_sid,
            process,
            self.limit,
            sealed,
            "1" if orphan else "0",
        ]
        return bool(await self._script("RELEASE", keys, args, f"ending call {call_sid}"))

    async def after_stream(self, call_sid: str) -> AfterStream | None:
        local = self._after.pop(call_sid, None)
        try:
            await self._settle(call_sid)
            raw = await self._script(
                "TAKE_AFTER",
                [self.keys.after, self.keys.after_order],
                [call_sid],
                "answering /call-ended",
            )
        except RegistryUnavailable:
            return local  # what this process knows: its own calls' ends
        if raw is None:
            return None
        try:
            return after_of(call_sid, self.seal.open("after", raw, self.clock()).body)
        except UntrustedMessage as untrusted:
            self._untrusted(f"call {call_sid}'s after-stream answer", untrusted)
            return None

    async def _settle(self, call_sid: str) -> None:
        """A call still held by another process when Twilio asks what comes after its
        stream: wait (about a lease at most) until that process releases it, or its
        lease runs out and the call is taken as orphaned."""
        deadline = time.monotonic() + self.lease_s + 1.0
        while True:
            try:
                holder = await self.client.hget(self.keys.held, call_sid)
                alive = holder is not None and await self.client.exists(
                    self.keys.lease(text(holder))
                )
            except DOWN_ERRORS as error:
                self._went_down("answering /call-ended", error)
                raise RegistryUnavailable(UNREACHABLE) from None
            if holder is None:
                return
            running_here = text(holder) == self.process and call_sid in self._here
            if not alive or (text(holder) == self.process and not running_here):
                await self._orphaned(call_sid, text(holder))
                return
            if time.monotonic() > deadline:
                return
            await asyncio.sleep(0.1)

    async def _orphaned(self, call_sid: str, process: str) -> None:
        if process == self.process and call_sid in self._here:
            return  # running here: not an orphan
        reason = orphan_reason(process)
        sealed = self._sealed_after(call_sid, Apologise(reason))
        if await self._release(call_sid, process, sealed, orphan=process != self.process):
            log.error("call %s %s; its /call-ended answers the apology", call_sid, reason)
            if self.on_orphan is not None:
                await self.on_orphan(call_sid, reason)

    async def completed(self, call_sid: str) -> None:
        self._after.pop(call_sid, None)
        try:
            await self._script(
                "TAKE_AFTER", [self.keys.after, self.keys.after_order], [call_sid], "forgetting"
            )
            await self.client.hdel(self.keys.transfers, call_sid)
        except (RegistryUnavailable, *DOWN_ERRORS) as error:
            log.warning("call %s completed; Redis did not hear it (%s)", call_sid, error)

    # where a call is, and a control for it

    async def locate(self, call_sid: str) -> str | None:
        try:
            holder = await self.client.hget(self.keys.held, call_sid)
            if holder is None or not await self.client.exists(self.keys.lease(text(holder))):
                return None
        except DOWN_ERRORS as error:
            self._went_down("locating a call", error)
            raise RegistryUnavailable(UNREACHABLE) from None
        return text(holder)

    async def control(self, call_sid: str, control: Control) -> Reply:
        holder = await self.locate(call_sid)
        if holder is None:
            raise CallNotHere(call_sid)
        if holder == self.process:
            reply = await self._deliver(call_sid, control) if self._deliver else None
            if reply is None:
                raise CallNotHere(call_sid)
            return reply
        request = secrets.token_hex(16)
        body = {
            "id": request,
            "call": call_sid,
            "to": holder,
            "from": self.process,
            "control": control_body(control),
        }
        sealed = self.seal.seal("control", body, self.clock(), self.control_timeout_s)
        waiting = asyncio.get_running_loop().create_future()
        self._waiting[request] = waiting
        try:
            try:
                listeners = await self.client.publish(self.keys.controls(holder), sealed)
            except DOWN_ERRORS as error:
                self._went_down("sending a control", error)
                raise RegistryUnavailable(UNREACHABLE) from None
            if not listeners:
                raise CallNotHere(call_sid)
            try:
                async with asyncio.timeout(self.control_timeout_s):
                    answer = await waiting
            except TimeoutError:
                raise ControlTimeout(call_sid, holder, self.control_timeout_s) from None
        finally:
            self._waiting.pop(request, None)
        if not answer["here"]:
            raise CallNotHere(call_sid)
        return reply_of(answer["reply"])

    async def load(self) -> Load:
        try:
            held = await self.client.hkeys(self.keys.held)
            pending = await self.client.hgetall(self.keys.pending)
        except DOWN_ERRORS as error:
            self._went_down("counting calls", error)
            raise RegistryUnavailable(UNREACHABLE) from None
        now = self.clock()
        calls = {text(s) for s in held} | {
            text(s) for s, v in pending.items() if int(text(v).split(":")[-1]) >= now
        }
        softphone = sum(1 for sid in calls if is_softphone(sid))
        return Load(phone=len(calls) - softphone, softphone=softphone)

    # the process's lease, orphans, and the channels

    def _untrusted(self, what: str, error: UntrustedMessage) -> None:
        self.refused_messages += 1
        log.warning("refused %s read from Redis: %s", what, error.reason)

    async def _heartbeat(self) -> None:
        every = self.lease_s / 4
        while True:
            try:
                held_before = await self.client.set(
                    self.keys.lease(self.process), "1", px=int(self.lease_s * 1000), get=True
                )
                # Our lease gone with Redis up: it restarted (or was flushed, or failed
                # over) between two heartbeats, faster than any call noticed it down.
                if self.down or held_before is None:
                    await self._recover()
                await self._reap()
            except (RegistryUnavailable, *DOWN_ERRORS) as error:
                if isinstance(error, DOWN_ERRORS):
                    self._went_down("renewing this process's lease", error)
            await asyncio.sleep(every)

    async def _recover(self) -> None:
        """Redis is back (perhaps restarted empty): this process's calls are held here
        again, and the ends it kept are written."""
        if self._here:
            await self.client.hset(self.keys.held, mapping=dict.fromkeys(self._here, self.process))
        while self._backlog:
            call_sid, sealed = self._backlog[0]
            await self.client.hset(self.keys.held, call_sid, self.process)
            await self._release(call_sid, self.process, sealed, orphan=False)
            self._backlog.pop(0)
        log.warning(
            "the shared registry (Redis) %s: %d call(s) held here re-registered",
            "is reachable again" if self.down else "had lost this process's lease",
            len(self._here),
        )
        self.down = False

    async def _reap(self) -> None:
        """Calls held by processes whose lease has run out are orphans: close them."""
        held = await self.client.hgetall(self.keys.held)
        holders = sorted({text(p) for p in held.values()} - {self.process})
        if not holders:
            return
        leases = await self.client.mget([self.keys.lease(p) for p in holders])
        dead = {p for p, lease in zip(holders, leases, strict=True) if lease is None}
        for sid, process in held.items():
            if text(process) in dead:
                await self._orphaned(text(sid), text(process))

    async def _listen(self, ready: asyncio.Event) -> None:
        channels = (self.keys.controls(self.process), self.keys.replies(self.process))
        while True:
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(*channels)
                ready.set()
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is None:
                        continue
                    if text(message["channel"]) == channels[0]:
                        task = asyncio.create_task(self._answer(message["data"]))
                        self._answering.add(task)
                        task.add_done_callback(self._answering.discard)
                    else:
                        self._replied(message["data"])
            except DOWN_ERRORS as error:
                self._went_down("listening for controls", error)
                await asyncio.sleep(min(1.0, self.lease_s / 4))
            finally:
                with contextlib.suppress(*DOWN_ERRORS):
                    await pubsub.aclose()

    async def _answer(self, data: bytes) -> None:
        """A control for a call here: opened, checked, delivered, and answered."""
        try:
            opened = self.seal.open("control", data, self.clock())
            body = opened.body
            if body.get("to") != self.process:
                raise UntrustedMessage("a control for another process")
            control = control_of(body["control"])
            ttl_ms = max(1, opened.expires_ms - int(self.clock() * 1000)) + 1000
            if not await self.client.set(self.keys.nonce(opened.nonce), "1", nx=True, px=ttl_ms):
                raise UntrustedMessage("a replayed control (its nonce was seen before)")
        except UntrustedMessage as untrusted:
            self._untrusted("a control", untrusted)
            return
        except (KeyError, TypeError, ValueError) as error:
            self._untrusted("a control", UntrustedMessage(f"malformed ({error})"))
            return
        except DOWN_ERRORS as error:
            self._went_down("checking a control", error)
            return
        call_sid = str(body["call"])
        reply = await self._deliver(call_sid, control) if self._deliver else None
        answer: dict[str, Any] = {"id": body["id"], "here": reply is not None}
        if reply is not None:
            answer["reply"] = reply_body(reply)
        sealed = self.seal.seal("reply", answer, self.clock(), self.control_timeout_s)
        try:
            await self.client.publish(self.keys.replies(str(body["from"])), sealed)
        except DOWN_ERRORS as error:
            self._went_down(f"answering a control for call {call_sid}", error)

    def _replied(self, data: bytes) -> None:
        try:
            body = self.seal.open("reply", data, self.clock()).body
        except UntrustedMessage as untrusted:
            self._untrusted("a control's reply", untrusted)
            return
        waiting = self._waiting.pop(str(body.get("id")), None)
        if waiting is not None and not waiting.done():
            waiting.set_result(body)


class RedisThrottle:
    """Wrong tokens per client address, counted by every process alike (the same token
    bucket as :class:`~app.registry.throttle.FailureThrottle`, kept in Redis). With
    Redis unreachable, this process's own count decides."""

    def __init__(
        self,
        client: Redis,
        prefix: str = "phonebot",
        throttle: FailureThrottle | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.local = throttle or FailureThrottle()
        self.clock = clock
        self._bucket = client.register_script(scripts.BUCKET)

    async def _level(self, address: str, spend: bool) -> float | None:
        local = self.local
        ttl_ms = int(1000 * local.burst / local.rate) + 1000  # until the bucket is full again
        args = [self.clock(), local.rate, local.burst, "1" if spend else "0", ttl_ms]
        try:
            level = await self._bucket(keys=[f"{self.prefix}:throttle:{address}"], args=args)
        except DOWN_ERRORS:
            return None
        return float(level)

    async def blocked(self, address: str) -> bool:
        level = await self._level(address, spend=False)
        if level is None:
            return self.local.blocked(address, self.clock())
        return level < 1

    async def failed(self, address: str) -> bool:
        level = await self._level(address, spend=True)
        if level is None:
            return self.local.failed(address, self.clock())
        return level < 1
