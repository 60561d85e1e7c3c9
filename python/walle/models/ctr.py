"""A BERT encoder and a DIN-style CTR model."""

from __future__ import annotations

import math

import torch
from torch import nn


class SelfAttention(nn.Module):
    def __init__(self, hidden: int, heads: int):
        super().__init__()
        self.heads, self.head_dim = heads, hidden // heads
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.out = nn.Linear(hidden, hidden)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, s, h = x.shape
        q, k, v = self.qkv(x).split(h, dim=-1)
        q, k, v = (t.reshape(b, s, self.heads, self.head_dim).transpose(1, 2) for t in (q, k, v))
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_dim)
        scores = torch.where(mask[:, None, None, :], scores, torch.finfo(scores.dtype).min)
        ctx = torch.softmax(scores, dim=-1) @ v
        return self.out(ctx.transpose(1, 2).reshape(b, s, h))


class EncoderLayer(nn.Module):
    def __init__(self, hidden: int, heads: int):
        super().__init__()
        self.attn = SelfAttention(hidden, heads)
        self.norm1 = nn.LayerNorm(hidden)
        self.ffn = nn.Sequential(nn.Linear(hidden, 4 * hidden), nn.GELU(), nn.Linear(4 * hidden, hidden))
        self.norm2 = nn.LayerNorm(hidden)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x + self.attn(x, mask))
        return self.norm2(x + self.ffn(x))


class BertEncoder(nn.Module):
    """input_ids [batch, seq] int64, attention_mask [batch, seq] int64 -> hidden states."""

    def __init__(self, vocab: int = 30522, hidden: int = 256, layers: int = 4, heads: int = 4, max_len: int = 512):
        super().__init__()
        self.word = nn.Embedding(vocab, hidden)
        self.position = nn.Embedding(max_len, hidden)
        self.token_type = nn.Embedding(2, hidden)
        self.norm = nn.LayerNorm(hidden)
        self.layers = nn.ModuleList(EncoderLayer(hidden, heads) for _ in range(layers))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)[None, :]
        x = self.word(input_ids) + self.position(positions) + self.token_type(torch.zeros_like(input_ids))
        x = self.norm(x)
        mask = attention_mask > 0
        for layer in self.layers:
            x = layer(x, mask)
        return x


class TargetAttention(nn.Module):
    """DIN's local activation unit: weights each behaviour by an MLP over (query, key)."""

    def __init__(self, dim: int, hidden: int = 36):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(4 * dim, hidden), nn.PReLU(), nn.Linear(hidden, 1))

    def forward(self, query: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        q = query[:, None, :].expand_as(keys)
        scores = self.mlp(torch.cat([q, keys, q - keys, q * keys], dim=-1)).squeeze(-1)
        scores = torch.where(mask, scores, torch.full_like(scores, -1e9))
        weights = torch.softmax(scores, dim=-1)
        return (weights[:, :, None] * keys).sum(dim=1)


class DIN(nn.Module):
    """Inputs: target item and category [batch], behaviour items and categories [batch, 50],
    behaviour mask [batch, 50] (bool), dense features [batch, 8] -> click probability [batch, 1]."""

    def __init__(self, items: int = 100_000, categories: int = 1000, dim: int = 32):
        super().__init__()
        self.item = nn.Embedding(items, dim)
        self.category = nn.Embedding(categories, dim)
        self.attention = TargetAttention(2 * dim)
        self.mlp = nn.Sequential(nn.Linear(4 * 2 * dim + 8, 200), nn.PReLU(), nn.Linear(200, 80), nn.PReLU(),
                                 nn.Linear(80, 1), nn.Sigmoid())

    def forward(self, item, category, hist_items, hist_categories, hist_mask, dense):
        target = torch.cat([self.item(item), self.category(category)], dim=-1)
        history = torch.cat([self.item(hist_items), self.category(hist_categories)], dim=-1)
        interest = self.attention(target, history, hist_mask)
        pooled = (history * hist_mask[:, :, None].float()).sum(1) / hist_mask.float().sum(1, keepdim=True).clamp(min=1)
        return self.mlp(torch.cat([target, interest, pooled, target * interest, dense], dim=-1))
