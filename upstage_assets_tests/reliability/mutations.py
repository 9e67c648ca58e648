"""Seeded mutations of real PDFs: the broken files nobody listed, made on demand.

Each mutation is a general kind of damage real files carry (flipped bits, a cut download, a
chunk overwritten, duplicated or dropped, two files spliced, a number in the object syntax
changed); the seed makes a failure reproducible from its test id.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterator
from pathlib import Path

Mutation = Callable[[random.Random, bytes, bytes], bytes]


def _flip_bits(rng: random.Random, data: bytes, _: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 32)):
        out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def _truncate(rng: random.Random, data: bytes, _: bytes) -> bytes:
    return data[:rng.randint(1, max(1, len(data) - 1))]


def _overwrite_chunk(rng: random.Random, data: bytes, _: bytes) -> bytes:
    start = rng.randrange(len(data))
    size = rng.randint(1, 512)
    return data[:start] + rng.randbytes(size) + data[start + size:]


def _duplicate_chunk(rng: random.Random, data: bytes, _: bytes) -> bytes:
    start = rng.randrange(len(data))
    chunk = data[start:start + rng.randint(1, 4096)]
    at = rng.randrange(len(data))
    return data[:at] + chunk * rng.randint(1, 4) + data[at:]


def _drop_chunk(rng: random.Random, data: bytes, _: bytes) -> bytes:
    start = rng.randrange(len(data))
    return data[:start] + data[start + rng.randint(1, 4096):]


def _splice(rng: random.Random, data: bytes, other: bytes) -> bytes:
    return data[:rng.randrange(len(data))] + other[rng.randrange(len(other)):]


_NUMBER = re.compile(rb"(?<![A-Za-z0-9])\d{1,9}(?![A-Za-z0-9])")


def _change_numbers(rng: random.Random, data: bytes, _: bytes) -> bytes:
    """Object numbers, lengths, offsets, counts: the syntax parsers trust most."""
    matches = list(_NUMBER.finditer(data))
    if not matches:
        return _flip_bits(rng, data, data)
    out = data
    for match in sorted(rng.sample(matches, min(len(matches), rng.randint(1, 8))), key=lambda m: -m.start()):
        value = rng.choice([b"0", b"-1", b"999999999", b"2147483648", str(rng.randint(0, 10**6)).encode()])
        out = out[:match.start()] + value + out[match.end():]
    return out


MUTATIONS: tuple[Mutation, ...] = (_flip_bits, _truncate, _overwrite_chunk, _duplicate_chunk, _drop_chunk,
                                   _splice, _change_numbers)


def mutated_documents(sources: list[Path], count: int, seed: int) -> Iterator[tuple[str, bytes]]:
    """``count`` (name, bytes) pairs, each a seeded mutation of one source (sometimes two in a row)."""
    rng = random.Random(seed)
    originals = [p.read_bytes() for p in sources]
    for index in range(count):
        pick = rng.randrange(len(originals))
        data, other = originals[pick], rng.choice(originals)
        applied = []
        for _ in range(rng.choice((1, 1, 2))):
            mutation = rng.choice(MUTATIONS)
            data = mutation(rng, data, other) or b"%"
            applied.append(mutation.__name__.lstrip("_"))
        yield f"{index:04d}-{sources[pick].stem[:40]}-{'+'.join(applied)}.pdf", data
