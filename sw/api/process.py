"""``rosvd serve`` as a child process on a free port: for benches, the fuzzer and crash tests.

:class:`ServerProcess` starts ``python -m rosvd.cli serve --home H --port 0 --json``, reads
the start-up record from its stdout (the URL it listens on), waits until ``/healthz``
answers, and stops it on leaving the block: SIGTERM (graceful: the writer closes the
appliance) unless :meth:`ServerProcess.kill` already sent SIGKILL. uvicorn's log goes to
``log`` (a file), never to the parent's terminal.
"""
from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

#: Seconds to wait for the server to listen and answer ``/healthz``.
START_TIMEOUT_S = 60.0
#: Seconds a graceful shutdown may take before the process is killed.
STOP_TIMEOUT_S = 30.0


#: api.json of :func:`local_home`: every client of a local run is 127.0.0.1, one rate bucket.
UNLIMITED_RATE = {"rate_per_s": 1e9, "rate_burst": 1_000_000_000}


def local_home(home: Path, policy=None) -> str:
    """Enroll a fresh dev-mode home (model device, ``policy`` or the default epochs) for a
    local run against it, with the per-address rate limit lifted; returns its write token."""
    from ..certify import ApplianceConfig, initialise
    from ..epochs import EpochPolicy
    from .settings import SETTINGS_FILE
    from .tokens import rotate
    initialise(home, ApplianceConfig(dev_mode=True, policy=policy or EpochPolicy()))
    (Path(home) / SETTINGS_FILE).write_text(json.dumps(UNLIMITED_RATE))
    return rotate(home)


class ServerError(RuntimeError):
    """The server did not start, or did not stop as it should."""


class ServerProcess:
    """``start_timeout_s``: how long it may take to answer (a large store's index loads, the
    RTL device's simulator builds on first use). :attr:`start_s`, :meth:`cpu_s` and
    :meth:`rss_mb` are what a bench reports about it."""

    def __init__(self, home: Path, log: Path, env: dict[str, str] | None = None,
                 start_timeout_s: float = START_TIMEOUT_S):
        self.home, self.log = Path(home), Path(log)
        self.env = {**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})}
        self.start_timeout_s = start_timeout_s
        self.process: subprocess.Popen | None = None
        self.url: str | None = None
        self.record: dict | None = None
        #: Seconds from the process start to its first healthy answer.
        self.start_s: float | None = None

    def command(self) -> list[str]:
        return [sys.executable, "-m", "rosvd.cli", "serve", "--home", str(self.home), "--port", "0", "--json"]

    def start(self) -> ServerProcess:
        started = time.monotonic()
        with self.log.open("a") as log:
            self.process = subprocess.Popen(self.command(), stdout=subprocess.PIPE, stderr=log, text=True,
                                            env=self.env)
        deadline = started + self.start_timeout_s
        try:
            lines = self._read_record(deadline)
            self.record = json.loads("".join(lines))
            self.url = self.record["url"]
            while True:
                try:
                    httpx.get(self.url + "/healthz", timeout=2).raise_for_status()
                    self.start_s = time.monotonic() - started
                    return self
                except httpx.HTTPError:
                    if self.process.poll() is not None or time.monotonic() > deadline:
                        raise ServerError("rosvd serve never answered /healthz:"
                                          f" {self._log_tail()}") from None
                    time.sleep(0.05)
        except BaseException:
            self.kill()
            raise

    def _read_record(self, deadline: float) -> list[str]:
        """The start-up record's lines, read on a thread so that a server stuck before it
        listens (a device that never opens, a store that never answers) meets the deadline.
        The thread stops at the record's end: stdout carries nothing else."""
        queued: queue.Queue = queue.Queue()

        def read():
            while True:
                line = self.process.stdout.readline()
                queued.put(line)
                if not line or line.startswith("}"):
                    return
        threading.Thread(target=read, daemon=True, name="rosvd-serve-record").start()
        lines: list[str] = []
        while not lines or not lines[-1].startswith("}"):
            try:
                line = queued.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise ServerError(f"rosvd serve did not listen within {self.start_timeout_s:g} s:"
                                  f" {self._log_tail()}") from None
            if not line:
                raise ServerError(f"rosvd serve stopped before it listened: {self._log_tail()}")
            lines.append(line)
        return lines

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text().splitlines()[-lines:])
        except OSError:
            return "(no log)"

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def cpu_s(self) -> float:
        """CPU seconds the server has used (user and system, every thread), from /proc."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> dict:
        """Resident memory now and at its peak (MiB), from /proc."""
        sizes = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                sizes[key] = int(value.split()[0]) / 1024
        return {"rss_mb": round(sizes["VmRSS"], 1), "peak_rss_mb": round(sizes["VmHWM"], 1)}

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs (what a power cut or the OOM killer leaves)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> int:
        """SIGTERM and wait for the graceful shutdown; returns the exit code."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.kill()
                raise ServerError(f"rosvd serve did not stop within {STOP_TIMEOUT_S:g} s of SIGTERM;"
                                  " killed") from None
        self.process.stdout.close()
        return self.process.returncode

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
