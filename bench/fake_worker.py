"""A worker without SIP or media, for measuring the controller alone (bench/controller_cpu.py).

It takes the real worker's options and speaks its IPC, and answers each MakeCall as a call to
`uas-answer-echo-wait-bye` does on loopback: InviteSent at once, 180 Ringing and the answer a
millisecond later each, a played file's PlaybackDone after the file's length, the hang-up
`hangup_after_seconds` after that (the answer prompt's too), and CallEnded with the RTP a
20-ms stream would have counted. SendDigits is answered with DigitsSent and a Transfer with
its REFER's 202 (TransferResult, accepted); recordings, stopping a playback and bridges fail
with CommandFailed. The controller cannot tell it from a worker, so its CPU a call in a run
against these is its own, without SIPp, RTP or PJSIP's threads beside it.

    python bench/fake_worker.py --worker-id 1 --ipc-fd 5 ...   (the pool starts it)
"""

from __future__ import annotations

import functools
import heapq
import os
import resource
import selectors
import socket
import sys
import wave
from collections.abc import Callable
from pathlib import Path
from typing import assert_never

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.clock import Clock, SystemClock
from engine.ipc import messages as m
from engine.ipc.codec import decode_to_worker, encode
from engine.ipc.worker_options import parse_args

SIGNALLING_SECONDS = 0.001
"""INVITE → 180 and 180 → 200 OK + ACK, each, on loopback."""
PACKETS_PER_SECOND = 50


@functools.cache
def seconds_of(path: str) -> float:
    with wave.open(path, "rb") as audio:
        return audio.getnframes() / audio.getframerate()


class FakeWorker:
    def __init__(self, ipc: socket.socket, worker_id: int, bind_address: str, clock: Clock) -> None:
        self.ipc = ipc
        self.worker_id = worker_id
        self.clock = clock
        self.doorbell = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.doorbell.bind((bind_address, 0))
        self.doorbell.setblocking(False)
        self.due: list[tuple[float, int, Callable[[], None]]] = []
        self.answered_at: dict[str, float] = {}
        self.calls: set[str] = set()
        self.buffer = b""
        self.stopping = False
        self._order = 0

    def send(self, message: m.Message) -> None:
        self.ipc.sendall(encode(message))

    def later(self, seconds: float, action: Callable[[], None]) -> None:
        self._order += 1
        heapq.heappush(self.due, (self.clock.monotonic() + seconds, self._order, action))

    def run(self) -> None:
        port = self.doorbell.getsockname()[1]
        self.send(m.Ready(worker_id=self.worker_id, sip_port=port, pid=os.getpid()))
        selector = selectors.DefaultSelector()
        selector.register(self.ipc, selectors.EVENT_READ, self.read_ipc)
        selector.register(self.doorbell, selectors.EVENT_READ, self.drain_doorbell)
        while not (self.stopping and not self.calls):
            timeout = max(0.0, self.due[0][0] - self.clock.monotonic()) if self.due else None
            for key, _ in selector.select(timeout):
                key.data()
            self.run_due()

    def run_due(self) -> None:
        """Carry out what is due by now."""
        while self.due and self.due[0][0] <= self.clock.monotonic():
            heapq.heappop(self.due)[2]()

    def drain_doorbell(self) -> None:
        while True:
            try:
                self.doorbell.recv(64)
            except BlockingIOError:
                return

    def read_ipc(self) -> None:
        data = self.ipc.recv(65536)
        if not data:
            self.stopping = True
            self.calls.clear()
            return
        *lines, self.buffer = (self.buffer + data).split(b"\n")
        for line in lines:
            if line.strip():
                self.handle(decode_to_worker(line))

    def handle(self, message: m.ToWorker) -> None:
        match message:
            case m.ConfigureTrunk():
                pass
            case m.MakeCall():
                self.make_call(message)
            case m.PlayFile():
                self.play(
                    message.call_id,
                    message.playback_id,
                    message.path,
                    message.hangup_after_seconds,
                )
            case m.Hangup():
                self.end(message.call_id)
            case m.SendDigits():
                if self.answered_or_fail(message):
                    self.send(m.DigitsSent(call_id=message.call_id, digits_id=message.digits_id))
            case m.Transfer():
                if self.answered_or_fail(message):
                    self.send(
                        m.TransferResult(
                            call_id=message.call_id,
                            transfer_id=message.transfer_id,
                            accepted=True,
                            sip_code=202,
                            reason="Accepted",
                        )
                    )
            case m.StopPlayback() | m.StartRecording() | m.StopRecording() | m.Bridge():
                self.fail(message, message.call_id, "not in the fake worker")
            case m.StatsRequest():
                usage = resource.getrusage(resource.RUSAGE_SELF)
                self.send(
                    m.Stats(
                        active_calls=len(self.calls),
                        rss_bytes=usage.ru_maxrss * 1024,
                        cpu_seconds=usage.ru_utime + usage.ru_stime,
                    )
                )
            case m.Shutdown():
                self.stopping = True
                for call_id in list(self.calls):
                    self.end(call_id)
            case _:
                assert_never(message)

    def answered_or_fail(self, message: m.SendDigits | m.Transfer) -> bool:
        """Whether the command's call is answered; if not, the command fails as the real
        worker's does."""
        if message.call_id in self.answered_at:
            return True
        self.fail(message, message.call_id, f"call {message.call_id} is not answered")
        return False

    def fail(self, message: m.ToWorker, call_id: str, reason: str) -> None:
        self.send(
            m.CommandFailed(
                call_id=call_id,
                command=message.type,
                subject_id=m.subject_of(message),
                reason=reason,
            )
        )

    def make_call(self, message: m.MakeCall) -> None:
        received = self.clock.monotonic()
        call_id = message.call_id
        self.calls.add(call_id)
        self.send(
            m.InviteSent(call_id=call_id, received_at=received, sent_at=self.clock.monotonic())
        )

        def ringing() -> None:
            if call_id in self.calls:
                self.send(
                    m.CallProgress(
                        call_id=call_id,
                        sip_code=180,
                        reason="Ringing",
                        progress_at=self.clock.monotonic(),
                    )
                )
                self.later(SIGNALLING_SECONDS, answered)

        def answered() -> None:
            if call_id not in self.calls:
                return
            self.answered_at[call_id] = self.clock.monotonic()
            self.send(m.CallAnswered(call_id=call_id, answered_at=self.answered_at[call_id]))
            prompt = message.answer_prompt
            if prompt is not None:
                self.play(call_id, m.ANSWER_PROMPT_ID, prompt.path, prompt.hangup_after_seconds)

        self.later(SIGNALLING_SECONDS, ringing)

    def play(self, call_id: str, playback_id: str, path: str, hangup_after: float | None) -> None:
        def done() -> None:
            if call_id not in self.calls:
                return
            self.send(m.PlaybackDone(call_id=call_id, playback_id=playback_id, stopped=False))
            if hangup_after is not None:
                self.later(hangup_after, lambda: self.end(call_id))

        self.later(seconds_of(path), done)

    def end(self, call_id: str) -> None:
        if call_id not in self.calls:
            return
        self.calls.discard(call_id)
        now = self.clock.monotonic()
        answered_at = self.answered_at.pop(call_id, None)
        rtp = None
        if answered_at is not None:
            packets = round((now - answered_at) * PACKETS_PER_SECOND)
            rtp = m.RtpCounts(
                packets_sent=packets, packets_received=packets, packets_lost=0, jitter_ms=0.0
            )
        self.send(
            m.CallEnded(
                call_id=call_id,
                sip_code=200 if rtp else 487,
                reason="Normal call clearing" if rtp else "Request Terminated",
                answered=rtp is not None,
                remote_hangup=False,
                rtp=rtp,
                ended_at=now,
            )
        )


def main() -> None:
    options = parse_args(sys.argv[1:])
    os.nice(options.nice)
    ipc = socket.socket(fileno=options.ipc_fd)
    FakeWorker(ipc, options.worker_id, options.bind_address, SystemClock()).run()


if __name__ == "__main__":
    main()
