"""The reference for the engine's throughput: bare pjsua2, N processes x 4 calls, no controller.

Each process has one Endpoint configured like an engine worker (8 kHz bridge, null sound device,
one polling thread) and places the calls whose index i satisfies i % N == k at the absolute time
start + i / rate. A call plays a WAV once answered and is hung up when the WAV has played to its
end (`--hang-up eof`, like the engine's "say, then hang up": a media clock that falls behind under
load makes the call longer), or `--call-seconds` after the answer whatever the audio did
(`--hang-up timer`). A call due while the process already holds 4 calls counts as failed ("no
free call slot"). Each process waits in `libHandleEvents` as an engine worker does: up to
`--poll-ms` (the workers' 50 ms), less when a call is due, and a prompt's end (on PJSIP's clock
thread) rings the process's own SIP port to end the wait (engine/ipc/doorbell.py); `--poll-ms 2`
polls busily, a floor that is not our stack's. Each call's RTP is counted when its stream ends,
as the engine's worker counts it, and reported in the engine's fields (sent, received, lost,
calls without audio both ways).

    python bench/bare_pjsua2.py --target sip:+1@127.0.0.1:5070 --processes 16 --rate 40 \
        --calls 2400 --wav flows/audio/chime.wav --out var/bench/bare.json
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import multiprocessing
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from queue import Empty
from typing import Any

MAX_CALLS = 4  # pjsua2-python is built with PJSUA_MAX_CALLS = 4

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from engine.ipc.doorbell import Doorbell  # noqa: E402
from engine.ipc.worker_options import BUSY_POLL_MS  # noqa: E402


def worker_main(
    index: int, args: argparse.Namespace, go: Any, start_at: Any, out: Any
) -> None:  # pragma: no cover - a benchmark
    import pjsua2 as pj

    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.uaConfig.maxCalls = MAX_CALLS
    cfg.medConfig.threadCnt = 0
    cfg.medConfig.clockRate = 8000
    cfg.medConfig.sndClockRate = 8000
    cfg.medConfig.ecTailLen = 0
    cfg.medConfig.noVad = True
    cfg.logConfig.level = 0
    cfg.logConfig.consoleLevel = 0
    ep.libInit(cfg)
    ep.audDevManager().setNullDev()
    tcfg = pj.TransportConfig()
    tcfg.port = 0
    tcfg.boundAddress = "127.0.0.1"
    transport = ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
    sip_port = int(ep.transportGetInfo(transport).localName.rsplit(":", 1)[1])
    doorbell = Doorbell("127.0.0.1")
    ep.libStart()
    acfg = pj.AccountConfig()
    acfg.idUri = "sip:bare@127.0.0.1"
    acfg.sipConfig.transportId = transport
    acfg.regConfig.registerOnAdd = False
    acfg.mediaConfig.transportConfig.port = args.rtp_base + index * 40
    acfg.mediaConfig.transportConfig.portRange = 40
    acfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
    account = pj.Account()
    account.create(acfg)
    out.put(("ready", index, None))
    go.wait()
    start = start_at.value
    cpu_at_start = time.process_time()  # excludes the interpreter's and PJSIP's start-up

    deferred: list[Any] = []
    results: list[dict[str, Any]] = []

    class BareCall(pj.Call):
        def __init__(self, number: int) -> None:
            super().__init__(account)
            self.number = number
            self.made = 0.0
            self.answered = 0.0
            self.player: Any = None
            self.hangup_at = 0.0
            self.status = 0
            self.hung = False
            self.ended = 0.0
            self.rtp = (0, 0, 0)
            """Packets sent, received and lost, read as the engine's worker reads them."""

        def onCallState(self, prm: Any) -> None:
            info = self.getInfo()
            if info.state == pj.PJSIP_INV_STATE_CONFIRMED and not self.answered:
                self.answered = time.monotonic()
                if args.hang_up == "timer":
                    self.hangup_at = self.answered + args.call_seconds
                deferred.append(lambda: play(self))
            elif info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
                self.status = info.lastStatusCode
                self.ended = time.monotonic()
                deferred.append(lambda: finish(self))

        def onStreamDestroyed(self, prm: Any) -> None:
            with contextlib.suppress(pj.Error):
                rtcp = self.getStreamStat(prm.streamIdx).rtcp
                sent, received, lost = self.rtp
                self.rtp = (
                    sent + rtcp.txStat.pkt,
                    received + rtcp.rxStat.pkt,
                    lost + rtcp.rxStat.loss,
                )

    calls: dict[int, BareCall] = {}

    class EndOfPrompt(pj.AudioMediaPlayer):
        def __init__(self, call: BareCall) -> None:
            super().__init__()
            self.call = call

        def onEof2(self) -> None:
            if not self.call.hangup_at:
                self.call.hangup_at = time.monotonic()
                doorbell.ring(sip_port)  # on the clock thread: end the loop's wait

    def play(call: BareCall) -> None:
        try:
            info = call.getInfo()
            for media_index, media in enumerate(info.media):
                if media.type == pj.PJMEDIA_TYPE_AUDIO and media.status == (
                    pj.PJSUA_CALL_MEDIA_ACTIVE
                ):
                    player = EndOfPrompt(call) if args.hang_up == "eof" else pj.AudioMediaPlayer()
                    player.createPlayer(args.wav, pj.PJMEDIA_FILE_NO_LOOP)
                    player.startTransmit(call.getAudioMedia(media_index))
                    call.player = player
                    return
        except pj.Error as exc:
            results.append({"n": call.number, "ok": False, "cause": f"play: {exc.status}"})

    def finish(call: BareCall) -> None:
        calls.pop(call.number, None)
        ok = call.answered > 0 and call.hangup_at > 0 and time.monotonic() >= call.hangup_at
        results.append(
            {
                "n": call.number,
                "ok": ok,
                "cause": "" if ok else f"sip {call.status}",
                "setup": call.answered - call.made if call.answered else None,
                "made": call.made - start,
                "answered_seconds": call.ended - call.answered if call.answered else None,
                "rtp": call.rtp if call.answered else None,
            }
        )
        call.player = None

    def place(number: int) -> None:
        call = BareCall(number)
        call.made = time.monotonic()
        try:
            call.makeCall(args.target, pj.CallOpParam(True))
        except pj.Error as exc:
            results.append({"n": number, "ok": False, "cause": f"makeCall {exc.status}"})
            return
        calls[number] = call

    def hang_up_due(now: float) -> None:
        for call in list(calls.values()):
            if call.hangup_at and now >= call.hangup_at and not call.hung:
                call.hung = True
                with contextlib.suppress(pj.Error):
                    call.hangup(pj.CallOpParam())

    due = list(range(index, args.calls, args.processes))
    position = 0
    while position < len(due) or calls:
        wait = args.poll_ms / 1000
        now = time.monotonic()
        if position < len(due):
            wait = min(wait, start + due[position] / args.rate - now)
        timed = [c.hangup_at for c in calls.values() if c.hangup_at and not c.hung]
        if timed:
            wait = min(wait, min(timed) - now)
        ep.libHandleEvents(max(0, int(wait * 1000)))
        while deferred:
            deferred.pop(0)()
        now = time.monotonic()
        while position < len(due) and start + due[position] / args.rate <= now:
            number = due[position]
            position += 1
            if len(calls) >= MAX_CALLS:
                results.append({"n": number, "ok": False, "cause": "no free call slot"})
                continue
            place(number)
        hang_up_due(now)
    # A pj.Call collected after libDestroy aborts the process: no reference may survive.
    deferred.clear()
    gc.collect()
    cpu = time.process_time() - cpu_at_start
    ep.libDestroy()
    doorbell.close()
    out.put(("done", index, (results, cpu)))


def rtp_summary(counts: list[tuple[int, int, int]]) -> dict[str, Any]:
    """The same fields as the engine's report (engine/tools/loadtest/report.py)."""
    sent = sum(c[0] for c in counts)
    received = sum(c[1] for c in counts)
    lost = sum(c[2] for c in counts)
    return {
        "calls_counted": len(counts),
        "packets_sent": sent,
        "packets_received": received,
        "packets_lost": lost,
        "loss_ratio": round(lost / received, 6) if received else None,
        "calls_without_audio_both_ways": sum(1 for c in counts if not (c[0] and c[1])),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", required=True, help="request URI of the SIPp UAS")
    parser.add_argument("--processes", type=int, required=True)
    parser.add_argument("--rate", type=float, required=True, help="calls per second in all")
    parser.add_argument("--calls", type=int, required=True)
    parser.add_argument("--call-seconds", type=float, default=3.0, help="with --hang-up timer")
    parser.add_argument(
        "--hang-up",
        choices=("eof", "timer"),
        default="eof",
        help="when the WAV ends (default), or --call-seconds after the answer",
    )
    parser.add_argument("--wav", required=True, help="8 kHz mono PCM16 WAV to play")
    parser.add_argument("--rtp-base", type=int, default=40000)
    parser.add_argument(
        "--poll-ms",
        type=int,
        default=BUSY_POLL_MS,
        help=f"longest wait in libHandleEvents (default {BUSY_POLL_MS}, as the engine's workers)",
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    go = context.Event()
    start_at = context.Value("d", 0.0)
    # Daemons: if this process gives up, they must not keep it waiting for them at exit.
    processes = [
        context.Process(target=worker_main, args=(i, args, go, start_at, queue), daemon=True)
        for i in range(args.processes)
    ]
    for process in processes:
        process.start()
    ready = 0
    while ready < args.processes:
        try:
            kind, _, _ = queue.get(timeout=120)
        except Empty:
            died = sum(1 for p in processes if p.exitcode not in (None, 0))
            sys.exit(f"{ready} of {args.processes} processes ready after 120 s ({died} died)")
        ready += kind == "ready"
    # CLOCK_MONOTONIC is system-wide: every process places calls on one schedule.
    start = time.monotonic() + 0.5
    start_at.value = start
    go.set()
    results: list[dict[str, Any]] = []
    cpu = 0.0
    reported: set[int] = set()
    deadline = start + args.calls / args.rate + args.call_seconds + 60
    while len(reported) < args.processes and time.monotonic() < deadline:
        try:
            _, index, batch = queue.get(timeout=1)
        except Empty:
            for index, process in enumerate(processes):
                if index not in reported and process.exitcode not in (None, 0):
                    # PJSIP can abort a process under overload (FIELD-NOTES): its calls failed.
                    reported.add(index)
                    lost = range(index, args.calls, args.processes)
                    cause = f"process died ({process.exitcode})"
                    results.extend({"n": n, "ok": False, "cause": cause} for n in lost)
            continue
        reported.add(index)
        batch_results, batch_cpu = batch
        results.extend(batch_results)
        cpu += batch_cpu
    for process in processes:
        process.join(5)
        if process.exitcode is None:
            process.kill()
    elapsed = time.monotonic() - start
    ok = [r for r in results if r["ok"]]
    setups = sorted(r["setup"] for r in results if r.get("setup") is not None)
    made = sorted(r["made"] for r in results if "made" in r)
    answered = [r["answered_seconds"] for r in results if r.get("answered_seconds") is not None]
    summary = {
        "calls": args.calls,
        "rate": args.rate,
        "processes": args.processes,
        "completed": len(ok),
        "failed": len(results) - len(ok),
        "failures_by_cause": dict(Counter(r["cause"] for r in results if not r["ok"])),
        "achieved_rate": round((len(made) - 1) / (made[-1] - made[0]), 2)
        if len(made) > 1
        else None,
        "setup_p50_ms": round(statistics.median(setups) * 1000, 2) if setups else None,
        "setup_p99_ms": round(setups[max(0, int(len(setups) * 0.99) - 1)] * 1000, 2)
        if setups
        else None,
        "answered_seconds_mean": round(statistics.fmean(answered), 3) if answered else None,
        "rtp": rtp_summary([r["rtp"] for r in results if r.get("rtp") is not None]),
        "hang_up": args.hang_up,
        "cpu_cores_mean": round(cpu / elapsed, 3),
        "cpu_note": "pjsua2 processes only, from the schedule's start to their last call",
    }
    print(json.dumps(summary))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(summary, indent=1))
    return 0 if summary["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
