"""Training compute of a GPT: the parameter count scaling laws use, and FLOPs per token.

The convention (Kaplan et al. 2020, section 2.1; the attention term as in PaLM's appendix B):

- ``N`` is the **non-embedding** parameter count: every weight and bias of the transformer
  blocks and the final norm, without the token and position tables and the output head. The
  tables' size follows the tokenizer (65 rows for characters, 50,257 for GPT-2's BPE), not the
  model's capacity, and Kaplan et al. found the loss a cleaner power law of N without them.
- FLOPs per training token = ``6 (N + V d) + 12 L d T``: each parameter a token meets in a
  matrix product costs 2 FLOPs forward (a multiply and an add) and 4 backward; the output head's
  ``V d`` product is real compute even though its table is not counted in N (a lookup in the
  token or position table costs nothing). Attention scores ``Q K^T`` and their weighted sum
  ``A V`` cost ``2 d T`` each per token and layer forward, times 3 with the backward pass, over
  the whole sequence trained on, ``T`` (``data.max_length``, which may be shorter than the
  model's context; the causal mask is not discounted). Norms, activations and the
  softmax are left out: a few percent at these shapes.
"""

from __future__ import annotations

from gpt_experiments.model import GPT


def non_embedding_parameters(model: GPT) -> int:
    """N: the parameters of the blocks and the final norm (no token or position table, no head)."""
    tables = {id(model.wte.weight), id(model.lm_head.weight)}
    if model.wpe is not None:
        tables.add(id(model.wpe.weight))
    return sum(p.numel() for p in model.parameters() if id(p) not in tables)


def training_flops_per_token(model: GPT, sequence_length: int | None = None) -> int:
    """FLOPs of one training token (forward and backward): ``6 (N + V d) + 12 L d T``, where T
    is ``sequence_length``, the length of the windows trained on (None: the context length)."""
    cfg = model.config
    head = cfg.padded_vocab_size * cfg.emb_dim
    attention = 12 * cfg.n_layers * cfg.emb_dim * (sequence_length or cfg.context_length)
    return 6 * (non_embedding_parameters(model) + head) + attention
