"""Reading order of blocks on a page: recursive XY-cut that keeps columns together.

Plain XY-cut cuts horizontally first and so reads two columns line by line whenever
their paragraph breaks happen to line up. Here consecutive horizontal bands that share a
column gutter (or sit inside one column of the band above) are merged back before the
vertical cut, so a column is read to its end before the next one starts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from upstage_assets.local_engine.geometry import Box

T = TypeVar("T")


def reading_order(items: Sequence[T], box_of: Callable[[T], Box], min_gutter: float = 0.0) -> list[T]:
    """Items top-to-bottom, and column by column where the page has columns."""
    return _order(list(items), box_of, min_gutter)


def _order(items: list[T], box_of: Callable[[T], Box], min_gutter: float) -> list[T]:
    if len(items) <= 1:
        return items
    bands = _split(items, box_of, axis="y", min_gap=0.0)
    if len(bands) > 1:
        bands = _merge_bands_sharing_columns(bands, box_of, min_gutter)
    if len(bands) > 1:
        return [item for band in bands for item in _order(band, box_of, min_gutter)]
    columns = _split(items, box_of, axis="x", min_gap=min_gutter)
    if len(columns) > 1:
        return [item for column in columns for item in _order(column, box_of, min_gutter)]
    return sorted(items, key=lambda item: (box_of(item).y0, box_of(item).x0))


def _split(items: list[T], box_of: Callable[[T], Box], axis: str, min_gap: float) -> list[list[T]]:
    """Groups separated by an empty stripe along the axis (projection profile cut)."""
    def span(item: T) -> tuple[float, float]:
        box = box_of(item)
        return (box.y0, box.y1) if axis == "y" else (box.x0, box.x1)

    ordered = sorted(items, key=lambda item: span(item)[0])
    groups: list[list[T]] = [[ordered[0]]]
    reach = span(ordered[0])[1]
    for item in ordered[1:]:
        start, end = span(item)
        # A tiny overlap (descenders touching the next line) does not join two bands.
        tolerance = 0.15 * (end - start) if axis == "y" else 0.0
        if start - reach > min_gap - tolerance and start >= reach - tolerance:
            groups.append([item])
        else:
            groups[-1].append(item)
        reach = max(reach, end)
    return groups


def _gutters(band: list[T], box_of: Callable[[T], Box], min_gutter: float) -> list[tuple[float, float]]:
    columns = _split(band, box_of, axis="x", min_gap=min_gutter)
    if len(columns) < 2:
        return []
    edges = [(max(box_of(i).x1 for i in left), min(box_of(i).x0 for i in right))
             for left, right in zip(columns, columns[1:], strict=False)]
    return edges


def _merge_bands_sharing_columns(bands: list[list[T]], box_of: Callable[[T], Box],
                                 min_gutter: float) -> list[list[T]]:
    merged: list[list[T]] = [bands[0]]
    previous = _gutters(bands[0], box_of, min_gutter)
    for band in bands[1:]:
        current = _gutters(band, box_of, min_gutter)
        inside_a_column = not any(_crosses(band, box_of, gutter) for gutter in previous)
        if previous and ((current and _share_gutter(previous, current)) or inside_a_column):
            merged[-1] = merged[-1] + band
            previous = _gutters(merged[-1], box_of, min_gutter) or current
        else:
            merged.append(band)
            previous = current
    return merged


def _crosses(band: list[T], box_of: Callable[[T], Box], gutter: tuple[float, float]) -> bool:
    return any(box_of(item).x0 < gutter[1] and box_of(item).x1 > gutter[0] for item in band)


def _share_gutter(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> bool:
    return any(min(a1, b1) > max(a0, b0) for a0, a1 in a for b0, b1 in b)
