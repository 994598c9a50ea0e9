"""The network trained by `mining train`: encoder, mean pooling, three heads."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers.masking_utils import create_bidirectional_mask


class MultiHeadModel(nn.Module):
    """Encoder + mean pooling + sentiment (softmax), failure and response (sigmoid) heads.

    `lower` and `upper` split the encoder at a layer: training with frozen lower layers runs
    `lower` once per text and caches its output, then trains `upper` only.
    """

    def __init__(self, encoder: nn.Module, hidden: int, n_sentiment: int, n_failure: int,
                 n_response: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder: Any = encoder  # a transformers encoder (XLMRobertaModel or BertModel)
        self.dropout = nn.Dropout(dropout)
        self.sentiment = nn.Linear(hidden, n_sentiment)
        self.failure = nn.Linear(hidden, n_failure)
        self.response = nn.Linear(hidden, n_response)

    def pool(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)

    def heads(self, pooled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        pooled = self.dropout(pooled)
        return self.sentiment(pooled), self.failure(pooled), self.response(pooled)

    def forward(self, input_ids: torch.Tensor,
                attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.heads(self.pool(hidden, attention_mask))

    def _layer_mask(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> Any:
        # The public mask builder the encoder's own forward calls (for its attention backend);
        # the encoder's private wrapper around it changes signature between releases.
        return create_bidirectional_mask(config=self.encoder.config, inputs_embeds=hidden,
                                         attention_mask=attention_mask)

    def lower(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
              split: int) -> torch.Tensor:
        """Token states after the embeddings and the first `split` layers."""
        hidden = self.encoder.embeddings(input_ids=input_ids)
        mask = self._layer_mask(hidden, attention_mask)
        for layer in self.encoder.encoder.layer[:split]:
            hidden = layer(hidden, mask)
        return hidden

    def upper(self, hidden: torch.Tensor, attention_mask: torch.Tensor,
              split: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The layers from `split` on, pooling and heads, from `lower`'s output."""
        mask = self._layer_mask(hidden, attention_mask)
        for layer in self.encoder.encoder.layer[split:]:
            hidden = layer(hidden, mask)
        return self.heads(self.pool(hidden, attention_mask))


class PooledModel(nn.Module):
    """What is exported: the encoder and pooling. The heads run in NumPy (`heads.py`), so they
    can be refit on cached features without touching the graph."""

    def __init__(self, model: MultiHeadModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.model.encoder(input_ids=input_ids, attention_mask=attention_mask)
        return self.model.pool(hidden.last_hidden_state, attention_mask)
