"""The worker's single thread: poll PJSIP, read commands, run what callbacks queued.

The decisions live apart and are given `now`: capacity.py (may a MakeCall start, wait or fail)
and media_table.py (which players and recorders run, which hang-ups are due); this module
carries them out with pjsua2.
"""

from __future__ import annotations

import gc
import logging
import math
import os
import resource
import tempfile
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import assert_never

import pjsua2 as pj

from engine.clock import Clock
from engine.ipc import messages as m
from engine.ipc.doorbell import Doorbell
from engine.ipc.worker_options import WorkerOptions
from engine.worker.call import WorkerCall
from engine.worker.capacity import Capacity, CapacityLimits, Decision, Fail, Start, Wait
from engine.worker.channel import Channel
from engine.worker.media import (
    EndedPlayers,
    Playback,
    Recording,
    StopReason,
    heard_level,
    write_beep,
)
from engine.worker.media_table import BeepKey, MediaTable, PlaybackKey, RecordingKey
from engine.worker.pjerrors import PJ_ETOOMANY, CommandError, Failure, failure_of, from_pj_error

log = logging.getLogger("engine.worker")

IDLE_SELECT_SECONDS = 0.05
"""With no call, wait on the IPC socket instead (it wakes at once for a command) and give PJSIP's
timers and stray SIP (OPTIONS, REGISTER replies) up to this much delay: an idle worker then costs
a fraction of the CPU a busy poll would (docs/sip-worker.md)."""
TIMED_CHECK_SECONDS = 0.05
"""How often recordings are checked for their length and silence, and the longest the loop
waits while something is checked by the clock (recordings, MakeCalls waiting for capacity,
the shutdown's grace period)."""
SHUTDOWN_GRACE_SECONDS = 5.0
"""How long Shutdown waits for its calls to reach DISCONNECTED before PJSIP is destroyed."""


class WorkerLoop:
    """One pjsua2 Endpoint driven from one thread; implements call.CallListener."""

    def __init__(self, options: WorkerOptions, channel: Channel, clock: Clock) -> None:
        self.options = options
        self.channel = channel
        self.clock = clock
        self.ep = pj.Endpoint()
        self.transport_id = -1
        self.extra_transports: dict[str, int] = {}
        self.sip_port = 0
        self.accounts: dict[str, pj.Account] = {}
        self.calls: dict[str, WorkerCall] = {}
        """Calls from makeCall until their DISCONNECTED has been handled."""
        self.capacity = Capacity(CapacityLimits(max_calls=options.max_calls))
        self.media: MediaTable[Playback, Recording] = MediaTable()
        self.ended_players: EndedPlayers[Playback] = EndedPlayers()
        """Players are destroyed from here, on this thread, never on PJSIP's event thread."""
        # Work queued by callbacks (append/popleft are atomic, so a callback on a PJSIP
        # thread may queue too); run by the loop outside any callback.
        self.deferred: deque[Callable[[], None]] = deque()
        self.stopping = False
        self._doorbell = Doorbell(options.bind_address)
        """Rung by callbacks on PJSIP's other threads, so their queued work runs at once."""
        self._tmp = tempfile.TemporaryDirectory(prefix="engine-worker-")
        self._beep_path: str | None = None

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
            busy = bool(self.calls) or self.capacity.anyone_waiting or self.stopping
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
            now = self.clock.monotonic()
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
        for recording in self.media.recordings():
            self._end_recording(recording, "hangup")
        for waiting in self.capacity.take_waiting():
            self._make_call_failed(waiting.message.call_id, Failure("worker shut down", 503))
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
        for playback in self.media.players():
            self._end_playback(playback, stopped=True)

    def send(self, message: m.Message) -> None:
        self.channel.send(message)

    def _wait_ms(self) -> int:
        """How long libHandleEvents may wait: the poll interval; less when a hang-up is due, or
        while the loop checks something by the clock (recordings' length and silence, MakeCalls
        waiting for capacity, the shutdown's grace period)."""
        longest = self.options.busy_poll_ms
        if self.media.recording_any or self.capacity.anyone_waiting or self.stopping:
            longest = min(longest, round(TIMED_CHECK_SECONDS * 1000))
        due = self.media.next_hangup_at()
        if due is None:
            return longest
        until_due = due - self.clock.monotonic()
        return max(0, min(longest, math.ceil(until_due * 1000)))

    def _hang_up_due(self) -> None:
        for call_id in self.media.hangups_due(self.clock.monotonic()):
            call = self.calls.get(call_id)
            if call is not None and not call.disconnected:
                self._end_call(call, 200)

    def _run_deferred(self) -> None:
        while self.deferred:
            self.deferred.popleft()()

    def _dispatch(self, message: m.ToWorker) -> None:
        try:
            self._carry_out(message)
        except (pj.Error, CommandError) as exc:
            self._command_failed(message, exc)

    def _carry_out(self, message: m.ToWorker) -> None:
        match message:
            case m.ConfigureTrunk():
                self._configure_trunk(message)
            case m.MakeCall():
                self._make_call(message, self.clock.monotonic())
            case m.Hangup():
                self._hangup(message)
            case m.PlayFile():
                self._play_file(message)
            case m.StopPlayback():
                self._stop_playback(message)
            case m.StartRecording():
                self._start_recording(message)
            case m.StopRecording():
                self._stop_recording(message)
            case m.SendDigits():
                self._send_digits(message)
            case m.Transfer():
                self._transfer(message)
            case m.Bridge():
                self._bridge(message)
            case m.StatsRequest():
                self._stats()
            case m.Shutdown():
                self._shutdown(message)
            case _:
                assert_never(message)

    def _command_failed(self, message: m.ToWorker, exc: pj.Error | CommandError) -> None:
        failure = failure_of(exc)
        log.warning("%s failed: %s", message.type, failure.reason)
        self.send(
            m.CommandFailed(
                call_id=_call_of(message),
                command=message.type,
                subject_id=m.subject_of(message),
                reason=failure.reason,
            )
        )
        if isinstance(message, m.MakeCall):
            self._make_call_failed(message.call_id, failure)
        elif isinstance(message, m.PlayFile) and not self.media.is_playing(
            PlaybackKey(message.call_id, message.playback_id)
        ):
            # The flow waits for this playback to end, and only its id says which one it is.
            self.send(
                m.PlaybackDone(
                    call_id=message.call_id, playback_id=message.playback_id, stopped=True
                )
            )

    # ------------------------------------------------------------ callbacks from WorkerCall

    def call_answered(self, call: WorkerCall) -> None:
        self.send(m.CallAnswered(call_id=call.call_id, answered_at=self.clock.monotonic()))
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
        for playback in self.media.players_of(call.call_id):
            self._end_playback(playback, stopped=True)
        for recording in self.media.recordings_of(call.call_id):
            self._end_recording(recording, "hangup")
        code, reason = call.final_code, call.final_reason
        if call.answered:
            code, reason = 200, reason or "Normal call clearing"
        self._send_call_ended(call, code, reason)
        # Dropped only now, after DISCONNECTED was handled inside libHandleEvents.
        self.calls.pop(call.call_id, None)
        self.capacity.call_ended(self.clock.monotonic())

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

    def _make_call(self, msg: m.MakeCall, received_at: float) -> None:
        if self.stopping:
            raise CommandError("worker is shutting down", 503)
        if msg.call_id in self.calls:
            raise CommandError(f"call_id {msg.call_id} is already in use")
        account = self.accounts.get(msg.trunk)
        if account is None:
            raise CommandError(f"no trunk named {msg.trunk!r} (send ConfigureTrunk first)")
        admitted = self.capacity.admit(len(self.calls), received_at, self.clock.monotonic())
        if not self._go_on(admitted, msg, received_at):
            return
        call = WorkerCall(self, self.clock, account, msg.call_id)
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
            now = self.clock.monotonic()
            self.capacity.call_ended(now)
            if exc.status != PJ_ETOOMANY:
                raise
            live = sum(1 for other in self.calls.values() if not other.disconnected)
            refused = self.capacity.slot_refused(live, from_pj_error(exc).reason, received_at, now)
            self._go_on(refused, msg, received_at)
            return
        self.send(
            m.InviteSent(
                call_id=msg.call_id, received_at=received_at, sent_at=self.clock.monotonic()
            )
        )

    def _go_on(self, decision: Decision, msg: m.MakeCall, received_at: float) -> bool:
        """Carry out a capacity decision: True to place the call now, False when it waits;
        raises CommandError when it fails."""
        match decision:
            case Start():
                return True
            case Wait():
                self.capacity.wait(msg, received_at)
                return False
            case Fail(reason=reason, sip_code=sip_code):
                raise CommandError(reason, sip_code)
            case _:
                assert_never(decision)

    def _retry_waiting(self) -> None:
        for waiting in self.capacity.take_waiting():
            try:
                self._make_call(waiting.message, waiting.received_at)
            except (pj.Error, CommandError) as exc:
                self._command_failed(waiting.message, exc)

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
        if self.capacity.cancel(msg.call_id) is not None:
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
        key = PlaybackKey(msg.call_id, msg.playback_id)
        if self.media.is_playing(key):
            raise CommandError(f"playback_id {msg.playback_id} is already playing")
        playback = Playback(key, msg.loop, self._playback_eof)
        playback.start(msg.path, audio)
        self.media.add_playback(key, playback, msg.hangup_after_seconds)

    def _playback_eof(self, playback: Playback) -> None:
        # On PJSIP's clock thread: the polling thread may be waiting in libHandleEvents.
        self.deferred.append(lambda: self._end_playback(playback, stopped=False))
        self._doorbell.ring(self.sip_port)

    def _end_playback(self, playback: Playback, stopped: bool) -> None:
        match playback.key:
            case PlaybackKey() as key:
                now = self.clock.monotonic()
                if not self.media.end_playback(key, playback, stopped, now):
                    return  # already ended (EOF and StopPlayback crossed)
                self.send(
                    m.PlaybackDone(
                        call_id=key.call_id, playback_id=key.playback_id, stopped=stopped
                    )
                )
            case BeepKey() as key:
                if not self.media.end_beep(key, playback):
                    return  # already ended, or its recording did
                recording = self.media.recording(key.recording)
                if recording is not None and not stopped:
                    self._begin_recording(recording)
            case _:
                assert_never(playback.key)
        self.ended_players.add(playback)

    def _stop_playback(self, msg: m.StopPlayback) -> None:
        playback = self.media.playback(PlaybackKey(msg.call_id, msg.playback_id))
        if playback is not None:
            self._end_playback(playback, stopped=True)

    def _start_recording(self, msg: m.StartRecording) -> None:
        audio = self._audio(msg.call_id)
        key = RecordingKey(msg.call_id, msg.recording_id)
        if self.media.is_recording(key):
            raise CommandError(f"recording_id {msg.recording_id} is already recording")
        recording = Recording(key, msg.path, msg.max_seconds, msg.silence_seconds, self.clock)
        beep: Playback | None = None
        if msg.beep:
            beep = Playback(BeepKey(key), False, self._playback_eof)
            beep.start(self._beep(), audio)
        else:
            recording.start(audio)
        self.media.add_recording(key, recording, beep)

    def _begin_recording(self, recording: Recording) -> None:
        call = self.calls.get(recording.key.call_id)
        if call is None or call.audio is None:
            self._end_recording(recording, "hangup")
            return
        try:
            recording.start(call.audio)
        except pj.Error as exc:
            failure = from_pj_error(exc)
            self.send(
                m.CommandFailed(
                    call_id=recording.key.call_id,
                    command="start_recording",
                    subject_id=recording.key.recording_id,
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
        for recording in self.media.recordings():
            call = self.calls.get(recording.key.call_id)
            audio = call.audio if call else None
            level = heard_level(audio) if audio is not None else None
            reason = recording.check(level, now)
            if reason is not None:
                self._end_recording(recording, reason)

    def _end_recording(self, recording: Recording, reason: StopReason) -> None:
        beep = self.media.beep(recording.key)
        if not self.media.end_recording(recording.key, recording):
            return
        if beep is not None:
            self.ended_players.add(beep)
        duration = recording.close()
        self.send(
            m.RecordingDone(
                call_id=recording.key.call_id,
                recording_id=recording.key.recording_id,
                path=recording.path,
                duration_seconds=round(duration, 3),
                reason=reason,
            )
        )

    def _stop_recording(self, msg: m.StopRecording) -> None:
        recording = self.media.recording(RecordingKey(msg.call_id, msg.recording_id))
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

    def _stats(self) -> None:
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


def _call_of(command: m.ToWorker) -> str | None:
    """The call a command is about (CommandFailed.call_id), if it names one."""
    match command:
        case (
            m.MakeCall()
            | m.Hangup()
            | m.PlayFile()
            | m.StopPlayback()
            | m.StartRecording()
            | m.StopRecording()
            | m.SendDigits()
            | m.Transfer()
            | m.Bridge()
        ):
            return command.call_id
        case m.ConfigureTrunk() | m.Shutdown() | m.StatsRequest():
            return None
        case _:
            assert_never(command)
