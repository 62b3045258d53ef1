"""One outgoing SIP leg: a `pj.Call` that turns PJSIP callbacks into worker events."""

from __future__ import annotations

from typing import Protocol

import pjsua2 as pj

from engine.clock import Clock
from engine.ipc.messages import (
    AnswerPrompt,
    CallProgress,
    DigitReceived,
    FromWorker,
    RtpCounts,
    TransferResult,
)


class CallListener(Protocol):
    """What a WorkerCall tells the loop that owns it (called inside PJSIP's callbacks)."""

    def send(self, message: FromWorker) -> None:
        """Send a message to the controller."""

    def call_answered(self, call: WorkerCall) -> None:
        """The call is CONFIRMED and its audio active."""

    def call_disconnected(self, call: WorkerCall) -> None:
        """The call reached DISCONNECTED: the loop finishes it outside the callback."""


class WorkerCall(pj.Call):
    """Kept referenced by the loop until its DISCONNECTED state has been handled: a Call
    object collected later aborts the process (docs/field-notes.md)."""

    def __init__(
        self, listener: CallListener, clock: Clock, account: pj.Account, call_id: str
    ) -> None:
        super().__init__(account)
        self.listener = listener
        self.clock = clock
        self.call_id = call_id
        self.confirmed = False
        self.answered = False
        self.audio: pj.AudioMedia | None = None
        self.local_hangup = False
        self.disconnected = False
        self.final_code = 0
        self.final_reason = ""
        self.last_progress = 0
        self.ended_at: float | None = None
        """The clock's monotonic() at DISCONNECTED (CallEnded is sent later, from the loop)."""
        self.transfer_reported = True
        """False while a Transfer waits for its first final status."""
        self.transfer_id = ""
        """The Transfer being reported on."""
        self.rtp: RtpCounts | None = None
        self.answer_prompt: AnswerPrompt | None = None
        """Started by the loop once the call is answered (MakeCall.answer_prompt)."""

    def onCallState(self, prm: pj.OnCallStateParam) -> None:
        info = self.getInfo()
        if info.state == pj.PJSIP_INV_STATE_EARLY:
            code = info.lastStatusCode
            if code in (180, 183) and code != self.last_progress:
                self.last_progress = code
                self.listener.send(
                    CallProgress(
                        call_id=self.call_id,
                        sip_code=code,
                        reason=info.lastReason,
                        progress_at=self.clock.monotonic(),
                    )
                )
        elif info.state == pj.PJSIP_INV_STATE_CONFIRMED:
            self.confirmed = True
            self._maybe_answered()
        elif info.state == pj.PJSIP_INV_STATE_DISCONNECTED and not self.disconnected:
            self.disconnected = True
            self.ended_at = self.clock.monotonic()
            self.final_code = info.lastStatusCode
            self.final_reason = info.lastReason
            self.audio = None
            self.listener.call_disconnected(self)

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:
        info = self.getInfo()
        self.audio = None
        for index, media in enumerate(info.media):
            if media.type == pj.PJMEDIA_TYPE_AUDIO and media.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                self.audio = self.getAudioMedia(index)
                break
        self._maybe_answered()

    def _maybe_answered(self) -> None:
        # 183 with SDP activates media while still EARLY: that is not an answer.
        if self.confirmed and self.audio is not None and not self.answered:
            self.answered = True
            self.listener.call_answered(self)

    def onStreamDestroyed(self, prm: pj.OnStreamDestroyedParam) -> None:
        # The last moment the stream's counters can be read: PJSIP destroys it right after.
        try:
            rtcp = self.getStreamStat(prm.streamIdx).rtcp
        except pj.Error:
            return
        jitter = rtcp.rxStat.jitterUsec
        before = self.rtp
        self.rtp = RtpCounts(
            packets_sent=rtcp.txStat.pkt + (before.packets_sent if before else 0),
            packets_received=rtcp.rxStat.pkt + (before.packets_received if before else 0),
            packets_lost=rtcp.rxStat.loss + (before.packets_lost if before else 0),
            jitter_ms=round(jitter.mean / 1000, 3) if jitter.n else None,
        )

    def onDtmfDigit(self, prm: pj.OnDtmfDigitParam) -> None:
        self.listener.send(
            DigitReceived(call_id=self.call_id, digit=prm.digit, received_at=self.clock.monotonic())
        )

    def onCallTransferStatus(self, prm: pj.OnCallTransferStatusParam) -> None:
        # The first final status (202 to the REFER, or a NOTIFY's sipfrag) is the result.
        if self.transfer_reported or (prm.statusCode < 200 and not prm.finalNotify):
            return
        self.transfer_reported = True
        self.listener.send(
            TransferResult(
                call_id=self.call_id,
                transfer_id=self.transfer_id,
                accepted=200 <= prm.statusCode < 300,
                sip_code=prm.statusCode,
                reason=prm.reason,
            )
        )
