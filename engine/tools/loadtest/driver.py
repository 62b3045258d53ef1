"""The load generator: POST /sessions/outgoing on an absolute schedule, follow every session.

Requests are due at `start + i / rate` whatever earlier ones are doing (no coordinated
omission: a slow answer does not delay the next request), over a pool of keep-alive
connections large enough for the rate (`KeepAliveClient`: the client's CPU is taken from the
engine's machine, and general-purpose clients spend several times its CPU a request:
docs/field-notes.md, HTTP).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import uvloop

from engine.tools.loadtest.http_client import BadResponse, HttpClientError, KeepAliveClient
from engine.tools.loadtest.records import CallRecord, EventRecorder

FINAL_WAIT_SECONDS = 120.0
"""After the last request: how long to wait for every session's final state."""
POLL_INTERVAL_SECONDS = 1.0


@dataclass
class LoadPlan:
    rate: float
    """Requests per second."""
    calls: int
    flow_id: str
    number: str
    caller_id: str | None = None

    def due(self, index: int, start: float) -> float:
        return start + index / self.rate


class LoadDriver:
    def __init__(
        self,
        plan: LoadPlan,
        base_url: str,
        key: str,
        *,
        recorder: EventRecorder | None = None,
        on_progress: Callable[[LoadDriver], None] | None = None,
    ) -> None:
        self.plan = plan
        self.recorder = recorder
        """In-process engine events; None: poll the API for session states."""
        self.records: list[CallRecord] = []
        self.origin = 0.0
        self._on_progress = on_progress
        self._base_url = base_url
        self._headers = {"Authorization": f"Bearer {key}", "Accept": "application/json"}
        self._connections = max(20, int(plan.rate) * 2)
        self._client: KeepAliveClient | None = None
        self._wall_offset = time.time() - time.monotonic()
        self._sent_counter: Any = None

    # ------------------------------------------------------------------ running

    async def run(
        self,
        final_wait: float = FINAL_WAIT_SECONDS,
        *,
        origin: float | None = None,
        follow: bool = True,
        sent_counter: Any = None,
    ) -> list[CallRecord]:
        """Send every request on schedule; with `follow`, also wait for every final state.

        `sent_counter`: a multiprocessing.Value counting requests sent (a parent's progress).
        """
        loop = asyncio.get_running_loop()
        self._client = KeepAliveClient(
            self._base_url, self._headers, max_connections=self._connections, timeout=30.0
        )
        self.origin = origin if origin is not None else time.monotonic() + 0.2
        self._sent_counter = sent_counter
        self.records = [
            CallRecord(index=i, scheduled=self.plan.due(i, self.origin))
            for i in range(self.plan.calls)
        ]
        posts: set[asyncio.Task[None]] = set()
        watcher = asyncio.ensure_future(self._follow() if follow else asyncio.sleep(0))
        try:
            for record in self.records:
                delay = record.scheduled - time.monotonic()
                if delay > 0:
                    # call_at-style: sleep to the absolute due time, never "interval after".
                    await asyncio.sleep(delay)
                task = loop.create_task(self._post(record))
                posts.add(task)
                task.add_done_callback(posts.discard)
            if posts:
                await asyncio.gather(*posts)
            deadline = time.monotonic() + final_wait
            while follow and not all(r.final for r in self.records) and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            self._refresh()
            await self._client.close()
        return self.records

    @property
    def client(self) -> KeepAliveClient:
        assert self._client is not None, "the client exists while run() runs"
        return self._client

    async def _post(self, record: CallRecord) -> None:
        body: dict[str, Any] = {"flowId": self.plan.flow_id, "numberToDial": self.plan.number}
        if self.plan.caller_id:
            body["callerId"] = self.plan.caller_id
        record.sent = time.monotonic()
        if self._sent_counter is not None:
            with self._sent_counter.get_lock():
                self._sent_counter.value += 1
        try:
            response = await self.client.post_json("/sessions/outgoing", body)
        except (HttpClientError, TimeoutError) as exc:
            record.responded = time.monotonic()
            record.error = f"http: {type(exc).__name__}"
            return
        record.responded = time.monotonic()
        status = record.http_status = response.status
        answer: Any = None
        with contextlib.suppress(ValueError):
            answer = response.json()
        if status == 200 and isinstance(answer, dict) and "id" in answer:
            record.session_id = str(answer["id"])
        else:
            code = ""
            with contextlib.suppress(KeyError, TypeError):
                code = answer["responseStatus"]["errorCode"]
            record.error = f"http {status} {code}".rstrip()

    # ------------------------------------------------------------------ following sessions

    async def _follow(self) -> None:
        while True:
            if self.recorder is None:
                with contextlib.suppress(HttpClientError, TimeoutError, ValueError):
                    await self._poll()
            self._refresh()
            await asyncio.sleep(0.25 if self.recorder is not None else POLL_INTERVAL_SECONDS)

    def _refresh(self) -> None:
        if self.recorder is not None:
            for record in self.records:
                if record.session_id is not None and record.outcome is None:
                    self.recorder.fill(record)
        if self._on_progress is not None:
            self._on_progress(self)

    async def _poll(self) -> None:
        """Sessions newest first, as far back as the oldest one still unfinished."""
        open_ids = {r.session_id: r for r in self.records if r.session_id and not r.final}
        if not open_ids:
            return
        skip = 0
        while open_ids:
            response = await self.client.request("GET", f"/sessions?skip={skip}&take=1000")
            if response.status != 200:
                raise BadResponse(f"GET /sessions: HTTP {response.status}")
            page = response.json()
            results = page.get("results") or []
            for info in results:
                record = open_ids.pop(str(info["id"]), None)
                if record is not None:
                    self._apply(record, info)
            if len(results) < 1000:
                return
            skip += 1000

    def _apply(self, record: CallRecord, info: dict[str, Any]) -> None:
        def mono(value: Any) -> float | None:
            if not value:
                return None
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            return moment.timestamp() - self._wall_offset

        record.answered_at = mono(info.get("dateAnswered"))
        for entry in info.get("log") or []:
            if str(entry.get("message", "")).startswith("INVITE sent"):
                record.invite_at = mono(entry.get("date"))
                created = mono(info.get("dateCreated"))
                if created is not None and record.invite_at is not None:
                    record.api_to_invite = record.invite_at - created
                break
        if info.get("ended"):
            record.ended_at = mono(info.get("dateCompleted"))
            record.outcome = info.get("outcome")
            record.reason = info.get("sipReason")

    # ------------------------------------------------------------------ progress

    def counts(self) -> dict[str, int]:
        now = time.monotonic()
        sent = sum(1 for r in self.records if r.sent is not None)
        invited = sum(1 for r in self.records if r.invite_at is not None)
        active = sum(
            1
            for r in self.records
            if r.answered_at is not None and r.answered_at <= now and r.ended_at is None
        )
        done = sum(1 for r in self.records if r.final)
        failed = sum(1 for r in self.records if r.failed)
        return {"sent": sent, "invited": invited, "active": active, "done": done, "failed": failed}


def _child(
    plan: LoadPlan, base_url: str, key: str, origin: float, sent: Any, out: Any
) -> None:  # runs in the client process
    driver = LoadDriver(plan, base_url, key)
    records = uvloop.run(driver.run(origin=origin, follow=False, sent_counter=sent))
    out.put(records)


async def drive_from_another_process(
    plan: LoadPlan,
    base_url: str,
    key: str,
    recorder: EventRecorder,
    *,
    final_wait: float = FINAL_WAIT_SECONDS,
    on_progress: Callable[[dict[str, int]], None] | None = None,
    client_pids: list[int] | None = None,
) -> tuple[list[CallRecord], float]:
    """Send the requests from a separate process, follow the sessions through `recorder`.

    The client does not share the engine's event loop or GIL: in one process its requests took
    a large share of the loop and delayed the engine's own work.
    CLOCK_MONOTONIC is system-wide, so both processes' times are on one clock.
    """
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    sent = context.Value("i", 0)
    origin = time.monotonic() + 1.5  # the child's interpreter and imports start first
    child = context.Process(target=_child, args=(plan, base_url, key, origin, sent, queue))
    child.start()
    if client_pids is not None and child.pid is not None:
        client_pids.append(child.pid)  # sampled beside the engine: the harness's own cost
    loop = asyncio.get_running_loop()
    limit = origin - time.monotonic() + plan.calls / plan.rate + 120
    pending = loop.run_in_executor(None, lambda: queue.get(timeout=limit))
    try:
        while not pending.done():
            if on_progress is not None:
                on_progress(_recorder_counts(recorder, sent.value))
            await asyncio.wait({pending}, timeout=0.25)
        records: list[CallRecord] = pending.result()
    finally:
        await loop.run_in_executor(None, child.join, 10)
        if child.exitcode is None:
            child.kill()
    deadline = time.monotonic() + final_wait
    while True:
        for record in records:
            recorder.fill(record)
        if all(r.final for r in records) or time.monotonic() > deadline:
            break
        if on_progress is not None:
            on_progress(_recorder_counts(recorder, sent.value))
        await asyncio.sleep(0.25)
    return records, origin


def _recorder_counts(recorder: EventRecorder, sent: int) -> dict[str, int]:
    counts = recorder.counts
    return {
        "sent": sent,
        "invited": counts["invited"],
        "active": counts["active"],
        "done": counts["ended"],
        "failed": counts["failed"],
    }
