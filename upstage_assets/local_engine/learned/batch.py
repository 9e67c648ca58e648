"""Padding pages of different sizes into the tensors the tagger takes."""

from __future__ import annotations

import numpy as np
import torch

from upstage_assets.local_engine.learned.features import GEOMETRY_FEATURES, PAD


def collate(chars: list[list[np.ndarray]], geometry: list[np.ndarray], device: torch.device
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(chars [docs, lines, width], geometry [docs, lines, F], line_counts [docs])."""
    docs = len(chars)
    lines = max(1, max(len(c) for c in chars))
    width = max(1, max((len(line) for page in chars for line in page), default=1))
    char_array = np.full((docs, lines, width), PAD, dtype=np.int64)
    geo_array = np.zeros((docs, lines, GEOMETRY_FEATURES), dtype=np.float32)
    for d, (page, geo) in enumerate(zip(chars, geometry, strict=True)):
        for i, line in enumerate(page):
            char_array[d, i, :len(line)] = line
        geo_array[d, :len(geo)] = geo
    counts = torch.tensor([max(1, len(c)) for c in chars], dtype=torch.int64)
    return torch.from_numpy(char_array).to(device), torch.from_numpy(geo_array).to(device), counts


def collate_targets(targets: list[list[np.ndarray]], known: list[np.ndarray], shape: torch.Size,
                    device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(targets [docs, lines, width, fields], weight mask of the same shape: real chars x known fields)."""
    docs, lines, width, fields = shape
    target_array = np.zeros((docs, lines, width, fields), dtype=np.float32)
    mask_array = np.zeros((docs, lines, width, fields), dtype=np.float32)
    for d, (page, known_fields) in enumerate(zip(targets, known, strict=True)):
        for i, line in enumerate(page):
            target_array[d, i, :len(line)] = line
            mask_array[d, i, :len(line)] = known_fields
    return torch.from_numpy(target_array).to(device), torch.from_numpy(mask_array).to(device)
