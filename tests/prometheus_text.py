"""Reading GET /metrics as Prometheus would, for tests."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def samples(text: str) -> dict[tuple, float]:
    """Every sample as {(name, (label, value), ...): value}, labels sorted."""
    return {
        (sample.name, *sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: dict, name: str, **labels) -> float:
    """A sample's value; 0 when absent (a counter not yet incremented)."""
    return found.get((name, *sorted(labels.items())), 0.0)
