"""The service's limits and defaults, read from ``api.json`` in the appliance home.

Every key is optional; a missing file means the defaults below. Unknown keys, wrong
types and non-positive values are refused when the service starts (``SettingsError``),
never silently ignored. docs/api.md lists them.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from ..search import MATCH_DISTANCE

SETTINGS_FILE = "api.json"
MiB = 1 << 20


class SettingsError(ValueError):
    """``api.json`` is unreadable or holds a value the service cannot use."""


@dataclass(frozen=True)
class Settings:
    #: Whole request body, any endpoint (declared by Content-Length or counted as it streams).
    max_request_bytes: int = 64 * MiB
    #: One uploaded file (certify or query).
    max_file_bytes: int = 32 * MiB
    #: Pixels of one uploaded image, read from its header before it is decoded.
    max_pixels: int = 40_000_000
    #: Files in one certify upload (one certificate each).
    max_files: int = 64
    #: Queries in one ``POST /v1/query`` (files uploaded or JSON items).
    max_query_batch: int = 16
    #: Matches returned per query: default and the most a client may ask for.
    default_matches: int = 10
    max_matches: int = 100
    #: Fingerprint distance: the default match distance and the largest a client may ask for.
    match_distance: float = MATCH_DISTANCE
    max_distance: float = 0.25
    #: Requests per second per client address (token bucket), and the burst it may save up.
    rate_per_s: float = 20.0
    rate_burst: int = 60
    #: Epochs per page of ``GET /v1/epochs``: default and maximum.
    page_size: int = 100
    max_page_size: int = 1000
    #: How often the service checks whether the open epoch is old enough to seal (seconds).
    seal_check_s: float = 5.0

    def __post_init__(self):
        for field in fields(self):
            value = getattr(self, field.name)
            expected = float if field.type == "float" else int
            if isinstance(value, bool) or not isinstance(value, int | float) or (
                    expected is int and not isinstance(value, int)):
                kind = "a number" if expected is float else "an integer"
                raise SettingsError(f"{field.name} must be {kind}, not {value!r}")
            if value <= 0:
                raise SettingsError(f"{field.name} must be positive, not {value!r}")
        if self.default_matches > self.max_matches:
            raise SettingsError("default_matches must not exceed max_matches")
        if self.page_size > self.max_page_size:
            raise SettingsError("page_size must not exceed max_page_size")
        if not self.match_distance <= self.max_distance <= 1.0:
            raise SettingsError("need match_distance <= max_distance <= 1")
        if self.max_file_bytes > self.max_request_bytes:
            raise SettingsError("max_file_bytes must not exceed max_request_bytes")

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def load(cls, home: Path) -> Settings:
        path = Path(home) / SETTINGS_FILE
        if not path.exists():
            return cls()
        try:
            record = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as error:
            raise SettingsError(f"{path}: cannot read it as JSON ({error})") from None
        if not isinstance(record, dict):
            raise SettingsError(f"{path}: must hold one JSON object")
        known = {field.name for field in fields(cls)}
        unknown = sorted(set(record) - known)
        if unknown:
            raise SettingsError(f"{path}: unknown settings {', '.join(unknown)}"
                                f" (known: {', '.join(sorted(known))})")
        try:
            return cls(**record)
        except SettingsError as error:
            raise SettingsError(f"{path}: {error}") from None
