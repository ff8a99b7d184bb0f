"""The service's one writer: a single thread that owns the :class:`~rosvd.certify.Appliance`.

Every certificate the API issues goes through :meth:`Writer.certify` on that thread, so
uploads queue behind each other exactly like batches of one ``rosvd certify``, and the
appliance's SQLite connection and device are only ever used by the thread that opened
them. A call returns only once its certificates are committed (durable); the epoch age
policy is checked on the same thread every ``seal_check_s`` seconds.
"""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .. import ingest
from ..certify import Appliance, Issued

#: Files certified per store transaction.
WRITE_BATCH = 64


class Writer:
    def __init__(self, home: Path, warm_up: bool = False):
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rosvd-writer")
        self._appliance: Appliance = self._executor.submit(Appliance, Path(home)).result()
        if warm_up:
            self._executor.submit(self._appliance.warm_up).result()

    @property
    def address(self) -> str:
        return self._appliance.address

    def cross_check(self) -> dict | None:
        """How many decompositions the device ran and compared with the specification model
        (a :class:`~rosvd.device.CoreDevice`), or None for the model device. Counters only:
        read without the writer thread (ints, replaced whole)."""
        device = self._appliance.device
        if not hasattr(device, "compared"):
            return None
        return {"decompositions": len(device.cycles), "compared": device.compared,
                "mismatches": device.mismatches}

    def _certify(self, contents: list[ingest.Content]) -> list[Issued]:
        return [item for batch in self._appliance.certify_all(contents, batch=WRITE_BATCH) for item in batch]

    async def certify(self, contents: list[ingest.Content]) -> list[Issued]:
        """Certify ``contents`` (existing certificates for bytes seen before); durable on return."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._certify, contents)

    async def maybe_seal(self) -> int | None:
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._appliance.maybe_seal)

    def close(self) -> None:
        try:
            self._executor.submit(self._appliance.close).result()
        finally:
            self._executor.shutdown()
