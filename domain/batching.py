"""Sales, ids and keys handled in batches: one helper for every place that pages through a list."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TypeVar

T = TypeVar("T")


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """`items` in lists of `size`, the last one shorter (itertools.batched, Python 3.12, as lists)."""
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch
