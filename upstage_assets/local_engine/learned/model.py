"""The field tagger: which characters of a page belong to which schema field.

Three small parts, each for one kind of evidence:

- a character CNN over each line (what the text says: "TOTAL", a date's shape, "SDN BHD");
- a bidirectional GRU over the lines in reading order, fed each line's pooled characters
  plus its box and kind (where the line is and what is printed around it: a name above an
  address, a label line above a value);
- a per-character head over both, one independent yes/no per field (sigmoid), so a field
  unknown for a document can be left out of the loss and two fields may share characters.

About 0.1 M parameters: it trains on two CPU cores in minutes and tags a page in milliseconds.
"""

from __future__ import annotations

import torch
from torch import nn

from upstage_assets.local_engine.learned.features import GEOMETRY_FEATURES, PAD, VOCAB_SIZE


class FieldTagger(nn.Module):
    def __init__(self, fields: int, embed: int = 24, channels: int = 64, hidden: int = 64):
        super().__init__()
        self.config = {"fields": fields, "embed": embed, "channels": channels, "hidden": hidden}
        self.embed = nn.Embedding(VOCAB_SIZE, embed, padding_idx=PAD)
        self.convs = nn.ModuleList([
            nn.Conv1d(embed + 1, channels, 5, padding=2),
            nn.Conv1d(channels, channels, 5, padding=4, dilation=2),
            nn.Conv1d(channels, channels, 3, padding=4, dilation=4),
        ])
        self.geometry = nn.Sequential(nn.Linear(GEOMETRY_FEATURES, 32), nn.ReLU())
        self.lines = nn.GRU(2 * channels + 32, hidden, batch_first=True, bidirectional=True)
        self.head = nn.Sequential(nn.Linear(channels + 2 * hidden + 32, hidden), nn.ReLU(),
                                  nn.Linear(hidden, fields))

    def forward(self, chars: torch.Tensor, geometry: torch.Tensor, line_counts: torch.Tensor) -> torch.Tensor:
        """chars [docs, lines, width] ids, geometry [docs, lines, F], line_counts [docs] -> logits
        [docs, lines, width, fields]."""
        docs, lines, width = chars.shape
        flat = chars.reshape(docs * lines, width)
        mask = (flat != PAD).float()
        position = torch.linspace(0, 1, width, device=chars.device).expand(docs * lines, width)
        x = torch.cat([self.embed(flat), position.unsqueeze(-1)], dim=-1).transpose(1, 2)
        for conv in self.convs:
            x = torch.relu(conv(x)) + (x if x.shape[1] == conv.out_channels else 0)
        x = x * mask.unsqueeze(1)  # [docs*lines, channels, width]
        pooled_max = x.max(dim=2).values
        pooled_mean = x.sum(dim=2) / mask.sum(dim=1, keepdim=True).clamp(min=1)
        geo = self.geometry(geometry)
        line_input = torch.cat([pooled_max.view(docs, lines, -1), pooled_mean.view(docs, lines, -1), geo], dim=-1)
        packed = nn.utils.rnn.pack_padded_sequence(line_input, line_counts.cpu(), batch_first=True,
                                                   enforce_sorted=False)
        context, _ = self.lines(packed)
        context, _ = nn.utils.rnn.pad_packed_sequence(context, batch_first=True, total_length=lines)
        per_char = x.transpose(1, 2).reshape(docs, lines, width, -1)
        line_features = torch.cat([context, geo], dim=-1).unsqueeze(2).expand(-1, -1, width, -1)
        return self.head(torch.cat([per_char, line_features], dim=-1))  # type: ignore[no-any-return]
