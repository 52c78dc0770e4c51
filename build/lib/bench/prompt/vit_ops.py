"""Running a timm VisionTransformer block by block, with prompts: prepended tokens (prompt tuning, L2P) or
prefixes of the attention keys and values (prefix tuning, DualPrompt and CODA-Prompt).

Only the public modules of timm's ``VisionTransformer`` and ``Block`` are used (patch_embed, _pos_embed, norm_pre,
blocks[i].norm1 / attn.qkv / attn.proj / ls1 / mlp ..., norm), so any timm ViT works, whatever its size."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def embed(vit, x: torch.Tensor) -> torch.Tensor:
    """Patch tokens with the class token and position embeddings: (B, 1 + N, D)."""
    return vit.norm_pre(vit.patch_drop(vit._pos_embed(vit.patch_embed(x))))


def attention_with_prefix(attn, x: torch.Tensor, prefix: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
    """timm's Attention.forward, with optional (B, Lk, D) key and (B, Lv, D) value prefixes concatenated in front
    of the tokens' keys and values (Li & Liang's prefix tuning, as DualPrompt and CODA-Prompt use it)."""
    B, N, _ = x.shape
    h, hd = attn.num_heads, attn.head_dim
    q, k, v = attn.qkv(x).reshape(B, N, 3, h, hd).permute(2, 0, 3, 1, 4).unbind(0)
    q, k = attn.q_norm(q), attn.k_norm(k)
    if prefix is not None:
        pk, pv = prefix
        k = torch.cat([pk.reshape(B, -1, h, hd).transpose(1, 2), k], dim=2)
        v = torch.cat([pv.reshape(B, -1, h, hd).transpose(1, 2), v], dim=2)
    out = F.scaled_dot_product_attention(q, k, v, dropout_p=attn.attn_drop.p if attn.training else 0.0)
    out = attn.norm(out.transpose(1, 2).reshape(B, N, -1))
    return attn.proj_drop(attn.proj(out))


def block(blk, x: torch.Tensor, prefix=None) -> torch.Tensor:
    """timm's Block.forward with an optional attention prefix."""
    if prefix is None:
        return blk(x)
    x = x + blk.drop_path1(blk.ls1(attention_with_prefix(blk.attn, blk.norm1(x), prefix)))
    return x + blk.drop_path2(blk.ls2(blk.mlp(blk.norm2(x))))


def features(vit, x: torch.Tensor, *, prefixes: dict | None = None, tokens: torch.Tensor | None = None) -> torch.Tensor:
    """Final normed tokens (B, T, D). `tokens` (B, L, D) are inserted right after the class token (prompt tuning);
    `prefixes` maps a block index to its (key prefix, value prefix)."""
    h = embed(vit, x)
    if tokens is not None:
        h = torch.cat([h[:, :1], tokens, h[:, 1:]], dim=1)
    prefixes = prefixes or {}
    for i, blk in enumerate(vit.blocks):
        h = block(blk, h, prefixes.get(i))
    return vit.norm(h)


@torch.no_grad()
def query(vit, x: torch.Tensor) -> torch.Tensor:
    """The frozen, un-prompted backbone's class token: the query all three methods match against their keys."""
    return vit.norm(vit.blocks(embed(vit, x)))[:, 0]
