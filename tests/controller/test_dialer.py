from typing import Any

from engine.config import TrunkConfig
from engine.controller.dialer import TokenBucket, TrunkDialer
from tests.support.clock import FakeClock


def test_token_bucket_spaces_calls_at_its_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=10, burst=2, clock=clock)
    assert bucket.wait_time() == 0
    bucket.take()
    bucket.take()
    assert bucket.wait_time() == 0.1
    clock.now += 0.05
    assert round(bucket.wait_time(), 6) == 0.05
    clock.now += 0.05
    assert bucket.wait_time() == 0
    bucket.take()
    assert bucket.wait_time() > 0


def test_token_bucket_never_holds_more_than_its_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=5, burst=1, clock=clock)
    clock.now += 60
    bucket.take()
    assert round(bucket.wait_time(), 6) == 0.2


class FakeCall:
    legs_needed = 1

    def __init__(self) -> None:
        self.placed_on: object = None

    def place(self, worker: object) -> None:
        self.placed_on = worker


class FakePool:
    """A pool whose workers have `free` slots in all."""

    def __init__(self, free: int) -> None:
        self.free = free

    def try_acquire(self, slots: int = 1) -> object | None:
        if self.free < slots:
            return None
        self.free -= slots
        return "worker"


def _dialer(pool: FakePool, **trunk: Any) -> TrunkDialer:
    config = TrunkConfig(name="t", host="127.0.0.1", **trunk)
    return TrunkDialer(config, pool, FakeClock())  # type: ignore[arg-type]


async def test_a_call_is_placed_at_once_when_nothing_waits_and_there_is_room() -> None:
    dialer = _dialer(FakePool(free=1))
    call = FakeCall()

    dialer.enqueue(call)  # type: ignore[arg-type]

    assert call.placed_on == "worker"
    assert (dialer.active, list(dialer.queue)) == (1, [])


async def test_a_call_waits_in_the_queue_without_a_free_slot_or_behind_another() -> None:
    dialer = _dialer(FakePool(free=0))
    first, second = FakeCall(), FakeCall()

    dialer.enqueue(first)  # type: ignore[arg-type]
    dialer.pool.free = 1  # type: ignore[attr-defined]
    dialer.enqueue(second)  # type: ignore[arg-type]

    assert (first.placed_on, second.placed_on) == (None, None)
    assert list(dialer.queue) == [first, second]


async def test_a_call_waits_in_the_queue_at_the_trunks_limits() -> None:
    for limits in ({"max_concurrent_calls": 1}, {"max_calls_per_second": 1}):
        dialer = _dialer(FakePool(free=10), **limits)
        calls = [FakeCall(), FakeCall()]
        for call in calls:
            dialer.enqueue(call)  # type: ignore[arg-type]
        assert [c.placed_on for c in calls] == ["worker", None], limits
        assert list(dialer.queue) == calls[1:]
