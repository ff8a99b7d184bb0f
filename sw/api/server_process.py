"""``rosvd serve`` in a child process, for benchmarks, the demo and tests: started on a free
port, ready once ``/healthz`` answers, stopped (SIGTERM, then SIGKILL) on exit."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

#: How long a start may take: loading (or first building) the index of a large store.
START_TIMEOUT_S = 600.0


class ServerError(RuntimeError):
    pass


class ServerProcess:
    """``with ServerProcess(home) as server: server.url``; ``server.log`` holds its stderr."""

    def __init__(self, home: Path, log: Path | None = None, start_timeout_s: float = START_TIMEOUT_S,
                 environment: dict | None = None):
        self.home = Path(home)
        self.log = Path(log) if log is not None else self.home / "serve.log"
        self.start_timeout_s = start_timeout_s
        self.environment = environment
        self.process: subprocess.Popen | None = None
        self.url: str | None = None
        #: Seconds from the process start to the first healthy answer.
        self.start_s: float | None = None

    def start(self) -> ServerProcess:
        import httpx
        command = [sys.executable, "-m", "rosvd.cli", "serve", "--home", str(self.home), "--port", "0",
                   "--json"]
        started = time.monotonic()
        with self.log.open("w") as log:
            self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True,
                                            env={**os.environ, **(self.environment or {})})
        lines = []  # the --json report: one pretty-printed object
        while not lines or not lines[-1].startswith("}"):
            line = self.process.stdout.readline()
            if not line:
                self.stop()
                raise ServerError(f"rosvd serve exited before listening; its log: {self.log}")
            lines.append(line)
        self.url = json.loads("".join(lines))["url"]
        while True:
            try:
                if httpx.get(self.url + "/healthz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() - started > self.start_timeout_s:
                self.stop()
                raise ServerError(f"rosvd serve did not become healthy; its log: {self.log}")
            time.sleep(0.05)
        self.start_s = time.monotonic() - started
        return self

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_s(self) -> float:
        """CPU seconds the server has used (user and system, all threads), from /proc."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> dict:
        """Resident memory now and at its peak (MiB), from /proc."""
        fields = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) / 1024
        return {"rss_mb": round(fields["VmRSS"], 1), "peak_rss_mb": round(fields["VmHWM"], 1)}

    def stop(self, timeout_s: float = 30.0) -> int | None:
        process, self.process = self.process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()
        return process.returncode

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
