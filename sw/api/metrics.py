"""Prometheus metrics (text exposition format at ``GET /metrics``).

Store figures are read when scraped, so they are never stale and cost nothing between
scrapes: ``rosvd_certificates``, ``rosvd_epochs{state}`` (open, sealed, closed, anchored;
see :func:`.records.epoch_status`), ``rosvd_epochs_unanchored`` (closed, not yet anchored)
and ``rosvd_anchoring_lag_seconds`` (how long the oldest of those has waited since its VDF
proof; 0 when none waits). Request figures are counted as they happen:
``rosvd_request_seconds{endpoint}``, a latency histogram of the look-up endpoints
(query, certificate, bundle), and ``rosvd_certified_total`` (certificates issued through
the API by this process).
"""
from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

from ..store import Store, now_ms

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
EPOCH_STATES = ("open", "sealed", "closed", "anchored")


class StoreCollector:
    def __init__(self, store: Callable[[], Store]):
        self.store = store

    def collect(self):
        store = self.store()
        certificates = GaugeMetricFamily("rosvd_certificates", "Certificates in the store")
        certificates.add_metric([], store.certificate_count())
        yield certificates
        anchored = {anchor.epoch for anchor in store.anchors("anchored")}
        counts = dict.fromkeys(EPOCH_STATES, 0)
        waiting_since = []
        for number, state, closed_ms in store.db.execute("SELECT number, state, closed_ms FROM epochs"):
            status = "anchored" if number in anchored else state
            counts[status] += 1
            if status == "closed":
                waiting_since.append(closed_ms)
        epochs = GaugeMetricFamily("rosvd_epochs", "Epochs by state", labels=["state"])
        for state, count in counts.items():
            epochs.add_metric([state], count)
        yield epochs
        unanchored = GaugeMetricFamily("rosvd_epochs_unanchored", "Closed epochs not yet anchored")
        unanchored.add_metric([], len(waiting_since))
        yield unanchored
        lag = GaugeMetricFamily("rosvd_anchoring_lag_seconds",
                                "Seconds the oldest closed, unanchored epoch has waited since its VDF proof")
        lag.add_metric([], max(0.0, (now_ms() - min(waiting_since)) / 1000) if waiting_since else 0.0)
        yield lag


class Metrics:
    """One registry per app (tests make many apps in one process)."""

    def __init__(self, store: Callable[[], Store]):
        self.registry = CollectorRegistry()
        self.registry.register(StoreCollector(store))
        self.latency = Histogram("rosvd_request_seconds", "Latency of look-up requests", ["endpoint"],
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.certified = Counter("rosvd_certified", "Certificates issued through the API",
                                 registry=self.registry)
