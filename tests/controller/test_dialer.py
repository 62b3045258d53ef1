from engine.controller.dialer import TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


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
