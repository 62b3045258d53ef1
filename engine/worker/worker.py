"""The worker's single thread: poll PJSIP, read commands, run what callbacks queued."""

from __future__ import annotations

import gc
import heapq
import logging
import math
import os
import resource
import tempfile
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pjsua2 as pj

from engine.ipc import messages as m
from engine.ipc.doorbell import Doorbell
from engine.ipc.worker_options import WorkerOptions
from engine.worker.call import WorkerCall
from engine.worker.channel import Channel
from engine.worker.media import EndedPlayers, Playback, Recording, StopReason, write_beep
from engine.worker.pjerrors import PJ_ETOOMANY, Failure, from_pj_error

log = logging.getLogger("engine.worker")

IDLE_SELECT_SECONDS = 0.05
"""With no call, wait on the IPC socket instead (it wakes at once for a command) and give PJSIP's
timers and stray SIP (OPTIONS, REGISTER replies) up to this much delay: idle CPU fell from
0.02 to about 0.004 cores (measured, docs/sip-worker.md)."""
TIMED_CHECK_SECONDS = 0.05
"""How often recordings are checked for their length and silence, and the longest the loop
waits while something is checked by the clock (recordings, MakeCalls waiting for capacity,
the shutdown's grace period)."""
IOQUEUE_HANDLES = 64
"""PJSIP's select ioqueue holds 64 sockets; taking a 65th aborts the process (an assertion in
pj_ioqueue_register_sock2), and a closed socket's handle is free again only 500 ms later."""
HANDLES_PER_CALL = 2
"""A call's RTP and RTCP sockets."""
HANDLE_FREE_DELAY_SECONDS = 0.6
"""PJ_IOQUEUE_KEY_FREE_DELAY (500 ms) and a margin."""
HANDLES_KEPT_FREE = 8
"""For the SIP transports (UDP, and TCP or TLS with their connections)."""
CAPACITY_WAIT_SECONDS = 1.0
"""How long a MakeCall may wait for a free socket handle or call slot before it fails."""
SHUTDOWN_GRACE_SECONDS = 5.0


class CommandError(Exception):
    """A command that cannot be carried out; becomes CommandFailed."""

    def __init__(self, reason: str, sip_code: int = 500) -> None:
        super().__init__(reason)
        self.failure = Failure(reason=reason, sip_code=sip_code)


class Worker:
    def __init__(self, options: WorkerOptions, channel: Channel) -> None:
        self.options = options
        self.channel = channel
        self.ep = pj.Endpoint()
        self.transport_id = -1
        self.extra_transports: dict[str, int] = {}
        self.sip_port = 0
        self.accounts: dict[str, pj.Account] = {}
        self.calls: dict[str, WorkerCall] = {}
        self.playbacks: dict[str, Playback] = {}
        self.ended_players: EndedPlayers[Playback] = EndedPlayers()
        """Players are destroyed from here, on this thread, never on PJSIP's event thread."""
        self.recordings: dict[str, Recording] = {}
        # Work queued by callbacks (append/popleft are atomic, so a callback on a PJSIP
        # thread may queue too); run by the loop outside any callback.
        self.deferred: deque[Callable[[], None]] = deque()
        self.waiting_for_capacity: deque[tuple[m.MakeCall, float]] = deque()
        """MakeCalls (and when they arrived) that wait for socket handles or a call slot that
        ended calls still hold."""
        self.ended_at: deque[float] = deque()
        """When recent calls ended: their sockets' handles are not free yet."""
        self.hangups_due: list[tuple[float, str]] = []
        """A heap of (when, call_id): hang-ups a finished prompt fixed (PlayFile's
        hangup_after_seconds)."""
        self.stopping = False
        self._doorbell = Doorbell(options.bind_address)
        """Rung by callbacks on PJSIP's other threads, so their queued work runs at once."""
        self._tmp = tempfile.TemporaryDirectory(prefix="engine-worker-")
        self._beep_path: str | None = None
        self._handlers: dict[type[m.Message], Callable[[Any], None]] = {
            m.ConfigureTrunk: self._configure_trunk,
            m.MakeCall: self._make_call,
            m.Hangup: self._hangup,
            m.PlayFile: self._play_file,
            m.StopPlayback: self._stop_playback,
            m.StartRecording: self._start_recording,
            m.StopRecording: self._stop_recording,
            m.SendDigits: self._send_digits,
            m.Transfer: self._transfer,
            m.Bridge: self._bridge,
            m.StatsRequest: self._stats,
            m.Shutdown: self._shutdown,
        }

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        o = self.options
        # Before PJSIP starts its media and clock threads, so that they inherit it (Linux
        # niceness is per thread): on a saturated machine the controller runs first.
        os.nice(o.nice)
        self.ep.libCreate()
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = True
        cfg.uaConfig.maxCalls = o.max_calls
        cfg.uaConfig.userAgent = "voice-engine"
        # RTP keeps its own ioqueue (medConfig.hasIoqueue), read by PJSIP's "media" thread
        # whatever threadCnt says; a prompt's end arrives on the "clock" thread.
        cfg.medConfig.threadCnt = 0
        cfg.medConfig.clockRate = o.clock_rate
        cfg.medConfig.sndClockRate = o.clock_rate
        cfg.medConfig.ecTailLen = 0
        # Send RTP through silence too: trunks hang up calls whose RTP stops.
        cfg.medConfig.noVad = True
        cfg.logConfig.level = o.log_level
        cfg.logConfig.consoleLevel = o.log_level
        self.ep.libInit(cfg)
        # No sound device is compiled in; the null device clocks the conference bridge.
        self.ep.audDevManager().setNullDev()
        tcfg = pj.TransportConfig()
        tcfg.port = o.sip_port
        tcfg.boundAddress = o.bind_address
        self.transport_id = self.ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
        local_name = self.ep.transportGetInfo(self.transport_id).localName
        self.sip_port = int(local_name.rsplit(":", 1)[1])
        self.ep.libStart()
        self.send(m.Ready(worker_id=o.worker_id, sip_port=self.sip_port, pid=os.getpid()))

    def run(self) -> int:
        self.start()
        next_check = 0.0
        shutdown_deadline: float | None = None
        while True:
            busy = bool(self.calls or self.waiting_for_capacity) or self.stopping
            self.ep.libHandleEvents(self._wait_ms() if busy else 0)
            self._run_deferred()
            self._hang_up_due()
            self._retry_waiting()
            for message in self.channel.poll(0 if busy else IDLE_SELECT_SECONDS):
                self._dispatch(message)
            self.ended_players.release_unreferenced()
            if self.channel.closed and not self.stopping:
                log.info("controller gone: shutting down")
                self._shutdown(m.Shutdown())
            now = time.monotonic()
            if now >= next_check:
                next_check = now + TIMED_CHECK_SECONDS
                self._check_recordings(now)
            if self.stopping:
                shutdown_deadline = shutdown_deadline or now + SHUTDOWN_GRACE_SECONDS
                if not self.calls or now >= shutdown_deadline:
                    break
        self._destroy()
        return 0

    def _destroy(self) -> None:
        self._run_deferred()
        self._end_all_playbacks()
        for recording in list(self.recordings.values()):
            self._end_recording(recording, "hangup")
        for message, _ in self.waiting_for_capacity:
            self._make_call_failed(message.call_id, Failure("worker shut down", 503))
        self.waiting_for_capacity.clear()
        for call in list(self.calls.values()):
            # Calls that never reached DISCONNECTED within the grace period.
            self._send_call_ended(call, 500, "worker shut down")
        self.calls.clear()
        self.accounts.clear()
        self.ended_players.clear()
        gc.collect()
        self.ep.libDestroy()
        self._doorbell.close()
        self._tmp.cleanup()

    def _end_all_playbacks(self) -> None:
        # A method of its own: no local variable keeps a player past libDestroy().
        for playback in list(self.playbacks.values()):
            self._end_playback(playback, stopped=True)

    def send(self, message: m.Message) -> None:
        self.channel.send(message)

    def _wait_ms(self) -> int:
        """How long libHandleEvents may wait: the poll interval; less when a hang-up is due, or
        while the loop checks something by the clock (recordings' length and silence, MakeCalls
        waiting for capacity, the shutdown's grace period)."""
        longest = self.options.busy_poll_ms
        if self.recordings or self.waiting_for_capacity or self.stopping:
            longest = min(longest, round(TIMED_CHECK_SECONDS * 1000))
        if not self.hangups_due:
            return longest
        until_due = self.hangups_due[0][0] - time.monotonic()
        return max(0, min(longest, math.ceil(until_due * 1000)))

    def _hang_up_due(self) -> None:
        now = time.monotonic()
        while self.hangups_due and self.hangups_due[0][0] <= now:
            _, call_id = heapq.heappop(self.hangups_due)
            call = self.calls.get(call_id)
            if call is not None and not call.disconnected:
                self._end_call(call, 200)

    def _run_deferred(self) -> None:
        while self.deferred:
            self.deferred.popleft()()

    def _dispatch(self, message: m.ToWorker) -> None:
        handler = self._handlers[type(message)]
        call_id: str | None = getattr(message, "call_id", None)
        try:
            handler(message)
        except (pj.Error, CommandError) as exc:
            self._command_failed(message, call_id, exc)

    def _command_failed(
        self, message: m.ToWorker, call_id: str | None, exc: pj.Error | CommandError
    ) -> None:
        failure = exc.failure if isinstance(exc, CommandError) else from_pj_error(exc)
        log.warning("%s failed: %s", message.type, failure.reason)
        self.send(
            m.CommandFailed(
                call_id=call_id,
                command=message.type,
                subject_id=m.subject_of(message),
                reason=failure.reason,
            )
        )
        if isinstance(message, m.MakeCall):
            self._make_call_failed(message.call_id, failure)
        elif (
            isinstance(message, m.PlayFile)
            and _playback_key(message.call_id, message.playback_id) not in self.playbacks
        ):
            # The flow waits for this playback to end, and only its id says which one it is.
            self.send(
                m.PlaybackDone(
                    call_id=message.call_id, playback_id=message.playback_id, stopped=True
                )
            )

    # ------------------------------------------------------------ callbacks from WorkerCall

    def call_answered(self, call: WorkerCall) -> None:
        self.send(m.CallAnswered(call_id=call.call_id, answered_at=time.monotonic()))
        if call.answer_prompt is not None:
            self.deferred.append(lambda: self._play_answer_prompt(call))

    def _play_answer_prompt(self, call: WorkerCall) -> None:
        prompt = call.answer_prompt
        if prompt is None or call.disconnected:
            return
        self._dispatch(
            m.PlayFile(
                call_id=call.call_id,
                playback_id=m.ANSWER_PROMPT_ID,
                path=prompt.path,
                hangup_after_seconds=prompt.hangup_after_seconds,
            )
        )

    def call_disconnected(self, call: WorkerCall) -> None:
        self.deferred.append(lambda: self._finish_call(call))

    def _finish_call(self, call: WorkerCall) -> None:
        for playback in [p for p in self.playbacks.values() if p.call_id == call.call_id]:
            self._end_playback(playback, stopped=True)
        for recording in [r for r in self.recordings.values() if r.call_id == call.call_id]:
            self._end_recording(recording, "hangup")
        code, reason = call.final_code, call.final_reason
        if call.answered:
            code, reason = 200, reason or "Normal call clearing"
        self._send_call_ended(call, code, reason)
        # Dropped only now, after DISCONNECTED was handled inside libHandleEvents.
        self.calls.pop(call.call_id, None)
        self.ended_at.append(time.monotonic())

    def _send_call_ended(self, call: WorkerCall, code: int, reason: str) -> None:
        self.send(
            m.CallEnded(
                call_id=call.call_id,
                sip_code=code,
                reason=reason,
                answered=call.answered,
                remote_hangup=not call.local_hangup,
                rtp=call.rtp,
                ended_at=call.ended_at,
            )
        )

    # ------------------------------------------------------------ commands

    def _configure_trunk(self, msg: m.ConfigureTrunk) -> None:
        acfg = pj.AccountConfig()
        acfg.idUri = msg.id_uri
        acfg.sipConfig.transportId = self._transport(msg.transport)
        if msg.registrar_uri:
            acfg.regConfig.registrarUri = msg.registrar_uri
            acfg.regConfig.timeoutSec = msg.register_expires
        acfg.regConfig.registerOnAdd = bool(msg.registrar_uri)
        if msg.username:
            # Used for both 401 (WWW-Authenticate) and 407 (Proxy-Authenticate).
            acfg.sipConfig.authCreds.append(
                pj.AuthCredInfo("digest", msg.realm, msg.username, 0, msg.password or "")
            )
        acfg.mediaConfig.transportConfig.port = self.options.rtp_port_base
        acfg.mediaConfig.transportConfig.portRange = self.options.rtp_port_count
        acfg.mediaConfig.transportConfig.boundAddress = self.options.bind_address
        account = self.accounts.get(msg.name)
        if account is None:
            account = pj.Account()
            account.create(acfg)
            self.accounts[msg.name] = account
        else:
            account.modify(acfg)

    def _transport(self, kind: str) -> int:
        """The SIP transport for a trunk: UDP on the worker's port (made at start); TCP and
        TLS made on first use, on any free port of the bind address."""
        if kind == "udp":
            return self.transport_id
        existing = self.extra_transports.get(kind)
        if existing is not None:
            return existing
        tcfg = pj.TransportConfig()
        tcfg.port = 0
        tcfg.boundAddress = self.options.bind_address
        pj_type = pj.PJSIP_TRANSPORT_TCP if kind == "tcp" else pj.PJSIP_TRANSPORT_TLS
        transport_id = int(self.ep.transportCreate(pj_type, tcfg))
        self.extra_transports[kind] = transport_id
        return transport_id

    def _make_call(self, msg: m.MakeCall, received_at: float | None = None) -> None:
        received_at = received_at or time.monotonic()
        if self.stopping:
            raise CommandError("worker is shutting down", 503)
        if msg.call_id in self.calls:
            raise CommandError(f"call_id {msg.call_id} is already in use")
        account = self.accounts.get(msg.trunk)
        if account is None:
            raise CommandError(f"no trunk named {msg.trunk!r} (send ConfigureTrunk first)")
        if not self._socket_handles_free():
            self._wait_for_capacity(msg, received_at, "no free socket handle for the call's media")
            return
        call = WorkerCall(self, account, msg.call_id)
        call.answer_prompt = msg.answer_prompt
        prm = pj.CallOpParam(True)
        # SipTxOption.localUri (pjsua2 >= 2.13) sets the INVITE's From, hence the caller ID.
        prm.txOption.localUri = msg.from_uri
        for name, value in {"X-Session-Id": msg.session_id, **msg.headers}.items():
            header = pj.SipHeader()
            header.hName = name
            header.hValue = value
            prm.txOption.headers.append(header)
        self.calls[msg.call_id] = call
        try:
            call.makeCall(msg.request_uri, prm)
        except pj.Error as exc:
            if call.disconnected:
                raise  # DISCONNECTED was already queued; it sends CallEnded
            self.calls.pop(msg.call_id, None)
            self.ended_at.append(time.monotonic())
            live = sum(1 for other in self.calls.values() if not other.disconnected)
            if exc.status == PJ_ETOOMANY and live < self.options.max_calls:
                self._wait_for_capacity(msg, received_at, from_pj_error(exc).reason)
                return
            raise
        self.send(
            m.InviteSent(call_id=msg.call_id, received_at=received_at, sent_at=time.monotonic())
        )

    def _socket_handles_free(self) -> bool:
        """Room for one more call's sockets, counting the handles of recently ended calls."""
        horizon = time.monotonic() - HANDLE_FREE_DELAY_SECONDS
        while self.ended_at and self.ended_at[0] < horizon:
            self.ended_at.popleft()
        held = (len(self.calls) + len(self.ended_at) + 1) * HANDLES_PER_CALL
        return held + HANDLES_KEPT_FREE <= IOQUEUE_HANDLES

    def _wait_for_capacity(self, msg: m.MakeCall, received_at: float, reason: str) -> None:
        if time.monotonic() - received_at >= CAPACITY_WAIT_SECONDS:
            raise CommandError(reason, 503)
        self.waiting_for_capacity.append((msg, received_at))

    def _retry_waiting(self) -> None:
        for _ in range(len(self.waiting_for_capacity)):
            message, received_at = self.waiting_for_capacity.popleft()
            try:
                self._make_call(message, received_at)
            except (pj.Error, CommandError) as exc:
                self._command_failed(message, message.call_id, exc)

    def _make_call_failed(self, call_id: str, failure: Failure) -> None:
        call = self.calls.get(call_id)
        if call is not None and call.disconnected:
            return
        self.send(
            m.CallEnded(
                call_id=call_id,
                sip_code=failure.sip_code,
                reason=failure.reason,
                answered=False,
                remote_hangup=False,
            )
        )

    def _hangup(self, msg: m.Hangup) -> None:
        for waiting in self.waiting_for_capacity:
            if waiting[0].call_id == msg.call_id:
                self.waiting_for_capacity.remove(waiting)
                self._make_call_failed(msg.call_id, Failure("cancelled before the INVITE", 487))
                return
        call = self.calls.get(msg.call_id)
        if call is None or call.disconnected:
            return
        self._end_call(call, msg.sip_code)

    def _end_call(self, call: WorkerCall, sip_code: int) -> None:
        """BYE, or CANCEL / a final answer with `sip_code` before the call is answered."""
        call.local_hangup = True
        prm = pj.CallOpParam()
        if not call.answered:
            prm.statusCode = sip_code
        call.hangup(prm)

    def _call(self, call_id: str) -> WorkerCall:
        call = self.calls.get(call_id)
        if call is None or call.disconnected:
            raise CommandError(f"no call {call_id}")
        return call

    def _audio(self, call_id: str) -> pj.AudioMedia:
        audio = self._call(call_id).audio
        if audio is None:
            raise CommandError(f"call {call_id} has no active audio")
        return audio

    def _play_file(self, msg: m.PlayFile) -> None:
        audio = self._audio(msg.call_id)
        if not Path(msg.path).is_file():
            raise CommandError(f"no such file: {msg.path}")
        key = _playback_key(msg.call_id, msg.playback_id)
        if key in self.playbacks:
            raise CommandError(f"playback_id {msg.playback_id} is already playing")
        playback = Playback(msg.call_id, msg.playback_id, msg.loop, self._playback_eof)
        playback.hangup_after = msg.hangup_after_seconds
        playback.start(msg.path, audio)
        self.playbacks[key] = playback

    def _playback_eof(self, playback: Playback) -> None:
        # On PJSIP's clock thread: the polling thread may be waiting in libHandleEvents.
        self.deferred.append(lambda: self._end_playback(playback, stopped=False))
        self._doorbell.ring(self.sip_port)

    def _end_playback(self, playback: Playback, stopped: bool) -> None:
        key = (
            _playback_key(playback.call_id, playback.playback_id)
            if playback.playback_id
            else f"beep:{id(playback)}"
        )
        if self.playbacks.pop(key, None) is None:
            return  # already ended (EOF and StopPlayback crossed)
        if playback.playback_id is None:
            recording = next((r for r in self.recordings.values() if r.beep is playback), None)
            if recording is not None:
                recording.beep = None
                if not stopped:
                    self._begin_recording(recording)
        else:
            self.send(
                m.PlaybackDone(
                    call_id=playback.call_id, playback_id=playback.playback_id, stopped=stopped
                )
            )
            if playback.hangup_after is not None and not stopped:
                due = time.monotonic() + playback.hangup_after
                heapq.heappush(self.hangups_due, (due, playback.call_id))
        self.ended_players.add(playback)

    def _stop_playback(self, msg: m.StopPlayback) -> None:
        playback = self.playbacks.get(_playback_key(msg.call_id, msg.playback_id))
        if playback is not None:
            self._end_playback(playback, stopped=True)

    def _start_recording(self, msg: m.StartRecording) -> None:
        audio = self._audio(msg.call_id)
        key = f"{msg.call_id}/{msg.recording_id}"
        if key in self.recordings:
            raise CommandError(f"recording_id {msg.recording_id} is already recording")
        recording = Recording(
            msg.call_id, msg.recording_id, msg.path, msg.max_seconds, msg.silence_seconds
        )
        if msg.beep:
            beep = Playback(msg.call_id, None, False, self._playback_eof)
            beep.start(self._beep(), audio)
            recording.beep = beep
            self.playbacks[f"beep:{id(beep)}"] = beep
            self.recordings[key] = recording
        else:
            recording.start(audio)
            self.recordings[key] = recording

    def _begin_recording(self, recording: Recording) -> None:
        call = self.calls.get(recording.call_id)
        if call is None or call.audio is None:
            self._end_recording(recording, "hangup")
            return
        try:
            recording.start(call.audio)
        except pj.Error as exc:
            failure = from_pj_error(exc)
            self.send(
                m.CommandFailed(
                    call_id=recording.call_id,
                    command="start_recording",
                    subject_id=recording.recording_id,
                    reason=failure.reason,
                )
            )
            self._end_recording(recording, "stopped")

    def _beep(self) -> str:
        if self._beep_path is None:
            path = Path(self._tmp.name) / "beep.wav"
            self._beep_path = str(write_beep(path, self.options.clock_rate))
        return self._beep_path

    def _check_recordings(self, now: float) -> None:
        for recording in list(self.recordings.values()):
            call = self.calls.get(recording.call_id)
            reason = recording.check(call.audio if call else None, now)
            if reason is not None:
                self._end_recording(recording, reason)

    def _end_recording(self, recording: Recording, reason: StopReason) -> None:
        if self.recordings.pop(f"{recording.call_id}/{recording.recording_id}", None) is None:
            return
        if recording.beep is not None:
            beep, recording.beep = recording.beep, None
            self.playbacks.pop(f"beep:{id(beep)}", None)
            self.ended_players.add(beep)
        duration = recording.close()
        self.send(
            m.RecordingDone(
                call_id=recording.call_id,
                recording_id=recording.recording_id,
                path=recording.path,
                duration_seconds=round(duration, 3),
                reason=reason,
            )
        )

    def _stop_recording(self, msg: m.StopRecording) -> None:
        recording = self.recordings.get(f"{msg.call_id}/{msg.recording_id}")
        if recording is not None:
            self._end_recording(recording, "stopped")

    def _send_digits(self, msg: m.SendDigits) -> None:
        self._audio(msg.call_id)
        self._call(msg.call_id).dialDtmf(msg.digits)
        self.send(m.DigitsSent(call_id=msg.call_id, digits_id=msg.digits_id))

    def _transfer(self, msg: m.Transfer) -> None:
        call = self._call(msg.call_id)
        if not call.answered:
            raise CommandError(f"call {msg.call_id} is not answered")
        call.transfer_reported = False
        call.transfer_id = msg.transfer_id
        call.xfer(msg.target_uri, pj.CallOpParam(True))

    def _bridge(self, msg: m.Bridge) -> None:
        one, other = self._audio(msg.call_id), self._audio(msg.other_call_id)
        one.startTransmit(other)
        other.startTransmit(one)

    def _stats(self, msg: m.StatsRequest) -> None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        with open("/proc/self/statm") as statm:
            rss_pages = int(statm.read().split()[1])
        self.send(
            m.Stats(
                active_calls=len(self.calls),
                rss_bytes=rss_pages * os.sysconf("SC_PAGE_SIZE"),
                cpu_seconds=usage.ru_utime + usage.ru_stime,
            )
        )

    def _shutdown(self, msg: m.Shutdown) -> None:
        self.stopping = True
        for call in list(self.calls.values()):
            if call.disconnected:
                continue
            call.local_hangup = True
            try:
                call.hangup(pj.CallOpParam())
            except pj.Error as exc:
                log.warning("hangup during shutdown: %s", from_pj_error(exc).reason)


def _playback_key(call_id: str, playback_id: str) -> str:
    """Playback ids are the flow's ("playback-1"), unique within one call only."""
    return f"{call_id}/{playback_id}"
