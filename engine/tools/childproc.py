"""Stopping a child process (SIPp, mosquitto, `voice-engine serve`) the same way everywhere."""

from __future__ import annotations

import subprocess

from engine.errors import ToolError


class ServiceStartError(ToolError):
    """A server a tool starts (mosquitto, `voice-engine serve`) exited or did not answer in
    time; the message carries its log's tail."""


def stop_child(process: subprocess.Popen[bytes], timeout: float) -> int:
    """SIGTERM (so it can save or drain), SIGKILL if it is still there after `timeout`;
    returns its exit status. A process that has already exited is left as it is."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode
