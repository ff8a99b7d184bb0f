"""The driver's register and stream interfaces, served by the Verilator-simulated top.

:class:`SimBridge` is a context manager: on entry it listens on a free loopback port,
starts :func:`rosvd.sim.core_rtl.run_core` with the testbench
:mod:`rosvd.sim.core_bridge_tb` in a background thread (the Verilator build is the one
``tests/hw/top/test_core_rtl.py`` uses for the same parameters, cached), and waits for the
simulation to connect back and give the per-run token; then :meth:`SimBridge.read`,
:meth:`~SimBridge.write` (a :class:`~rosvd.driver.core.RegisterAccess`),
:meth:`~SimBridge.send`, :meth:`~SimBridge.receive` (a
:class:`~rosvd.driver.core.StreamTransport`) and :meth:`~SimBridge.idle` forward to it,
one JSON line per request. On exit it closes the simulation and joins the thread.

Robustness: every request has a wall-clock timeout (``request_timeout``), after which
the bridge is broken and says so on every later call; stream transfers also have a
budget in simulated time (the testbench's); an AXI4-Lite SLVERR raises :class:`BusError`;
a simulator that dies, fails or never connects raises :class:`BridgeError` with the
run's failure; the testbench gives up by itself when the host goes silent, so no
simulator outlives its host for long.
"""
from __future__ import annotations

import json
import secrets
import socket
import threading
import time
from collections.abc import Sequence

from rosvd.hw.top.core import CoreParams

from .core import DriverError, DriverTimeout


class BridgeError(DriverError):
    """The simulation behind the bridge failed, never connected, or broke the protocol."""


class BusError(DriverError):
    """An AXI4-Lite transaction was answered with an error response (SLVERR/DECERR)."""


class SimBridge:
    """A running simulation of RosvdCore(``params``) that answers the driver's requests."""

    def __init__(self, params: CoreParams, *, simulator: str = "verilator", seed: int = 1,
                 request_timeout: float = 60.0, start_timeout: float = 900.0, idle_cycles: int = 64,
                 idle_timeout: float | None = None):
        self.params, self.simulator, self.seed = params, simulator, seed
        self.request_timeout, self.start_timeout = request_timeout, start_timeout
        #: Wall-clock seconds the testbench waits for a request (default twice ``request_timeout``).
        self.idle_timeout = idle_timeout if idle_timeout is not None else 2 * request_timeout
        self.idle_cycles = idle_cycles
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._sock: socket.socket | None = None
        self._stream = None
        self._broken: str | None = None
        self.results = None
        self.requests = 0

    # -- lifetime ----------------------------------------------------------------------
    def __enter__(self) -> SimBridge:
        token = secrets.token_hex(16)
        with socket.create_server(("127.0.0.1", 0)) as listener:
            listener.settimeout(0.5)
            port = listener.getsockname()[1]
            self._thread = threading.Thread(target=self._run, args=(port, token), name="rosvd-sim-bridge",
                                            daemon=True)
            self._thread.start()
            deadline = time.monotonic() + self.start_timeout
            while True:
                try:
                    sock, _ = listener.accept()
                    break
                except TimeoutError:
                    if not self._thread.is_alive():
                        raise self._failure("the simulation ended before it connected") from self._error
                    if time.monotonic() > deadline:
                        raise BridgeError(f"the simulation did not connect within {self.start_timeout}"
                                          " s") from None
        sock.settimeout(self.request_timeout)
        self._sock, self._stream = sock, sock.makefile("rwb")
        hello = self._reply("hello")
        if hello.get("hello") != token:
            self._close_socket()
            raise BridgeError("a process connected to the bridge without the run's token; refused")
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._sock is not None and self._broken is None:
            try:
                self._request("close")
            except DriverError:
                pass
        self._close_socket()
        if self._thread is not None:
            self._thread.join(self.request_timeout)
            if self._thread.is_alive() and exc_type is None:
                raise BridgeError(f"the simulation did not stop within {self.request_timeout} s of close")
        if self._error is not None and exc_type is None:
            raise self._failure("the simulation failed") from self._error

    def _run(self, port: int, token: str) -> None:
        from rosvd.sim import core_rtl
        env = {core_rtl.BRIDGE_PORT_ENV: port, core_rtl.BRIDGE_TOKEN_ENV: token,
               core_rtl.BRIDGE_IDLE_ENV: self.idle_timeout, "ROSVD_TB_SEED": self.seed}
        try:
            self.results = core_rtl.run_core(self.simulator, self.params, core_rtl.BRIDGE_TESTCASE,
                                             test_module=core_rtl.BRIDGE_TEST_MODULE, **env)
        except BaseException as error:  # noqa: BLE001 -- handed to the host thread
            self._error = error

    def _failure(self, what: str) -> BridgeError:
        detail = f": {self._error}" if self._error is not None else ""
        return BridgeError(f"{what}{detail}")

    def _close_socket(self) -> None:
        for closable in (self._stream, self._sock):
            if closable is not None:
                try:
                    closable.close()
                except OSError:
                    pass
        self._stream = self._sock = None

    # -- protocol ----------------------------------------------------------------------
    def _reply(self, what: str) -> dict:
        try:
            line = self._stream.readline()
        except TimeoutError:
            self._broken = f"no answer to {what} within {self.request_timeout} s"
            raise DriverTimeout(f"simulation bridge: {self._broken}") from None
        except OSError as error:
            self._broken = f"connection lost ({error})"
            raise BridgeError(f"simulation bridge: {self._broken}") from error
        if not line:
            self._broken = f"the simulation closed the connection during {what}"
            if self._thread is not None:
                self._thread.join(self.request_timeout)
            raise self._failure(self._broken)
        return json.loads(line)

    def _request(self, op: str, **fields) -> dict:
        if self._broken is not None:
            raise BridgeError(f"simulation bridge unusable: {self._broken}")
        if self._stream is None:
            raise BridgeError("simulation bridge not started: use it as a context manager")
        try:
            self._stream.write(json.dumps({"op": op, **fields}).encode() + b"\n")
            self._stream.flush()
        except OSError as error:
            self._broken = f"connection lost ({error})"
            raise BridgeError(f"simulation bridge: {self._broken}") from error
        self.requests += 1
        reply = self._reply(op)
        if "error" in reply:
            kind = DriverTimeout if reply.get("kind") == "timeout" else BridgeError
            raise kind(f"simulation: {reply['error']}")
        return reply

    # -- RegisterAccess ----------------------------------------------------------------
    def read(self, offset: int) -> int:
        reply = self._request("read", offset=int(offset))
        if reply["resp"] != "OKAY":
            raise BusError(f"AXI4-Lite read of {offset:#05x} answered {reply['resp']}")
        return int(reply["value"])

    def write(self, offset: int, value: int) -> None:
        reply = self._request("write", offset=int(offset), value=int(value))
        if reply["resp"] != "OKAY":
            raise BusError(f"AXI4-Lite write of {value:#010x} to {offset:#05x} answered {reply['resp']}")

    def idle(self, cycles: int | None = None) -> None:
        """Let ``cycles`` clock cycles pass (default ``idle_cycles``): the driver's pause."""
        self._request("idle", cycles=int(cycles or self.idle_cycles))

    # -- StreamTransport ---------------------------------------------------------------
    def send(self, words: Sequence[int]) -> None:
        self._request("send", words=[int(w) for w in words])

    def receive(self, count: int) -> list[int]:
        return [int(w) for w in self._request("receive", count=int(count))["words"]]
