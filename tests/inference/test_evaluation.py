"""Sliding-window perplexity agrees with Hugging Face transformers on the same weights."""

from __future__ import annotations

import math

import pytest
import torch
import transformers

from gpt_experiments.errors import ConfigError, DataError
from gpt_experiments.inference.evaluation import read_texts, sliding_window_perplexity, window_spans
from gpt_experiments.inference.precision import to_inference_precision
from gpt_experiments.model import GPT, GPTConfig

TINY = GPTConfig(vocab_size=97, context_length=16, emb_dim=32, n_heads=4, n_layers=2, drop_rate=0.0)
# HF's Conv1D stores [in, out]; nn.Linear stores [out, in].
CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")


def tiny_hf_model() -> transformers.GPT2LMHeadModel:
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        vocab_size=TINY.vocab_size,
        n_positions=TINY.context_length,
        n_embd=TINY.emb_dim,
        n_layer=TINY.n_layers,
        n_head=TINY.n_heads,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        layer_norm_epsilon=1e-5,
        initializer_range=0.3,  # large weights: a peaked, non-uniform distribution to compare
        bos_token_id=0,
        eos_token_id=0,
    )
    model = transformers.GPT2LMHeadModel(config).eval()
    with torch.no_grad():  # HF zero-initialises biases and LayerNorms: give them values too
        for name, param in model.named_parameters():
            if name.endswith("bias") or ".ln_" in name:
                param.add_(0.1 * torch.randn_like(param))
    return model


def project_model_from(hf: transformers.GPT2LMHeadModel) -> GPT:
    model = GPT(TINY).eval()
    state = {}
    for name, tensor in hf.transformer.state_dict().items():
        if name.endswith(".attn.bias") or name.endswith(".attn.masked_bias"):
            continue  # causal-mask buffers in some transformers versions
        state[name] = tensor.t() if name.endswith(CONV1D) else tensor
    state["lm_head.weight"] = state["wte.weight"]
    model.load_state_dict(state)
    return model


def hf_guide_perplexity(model: transformers.GPT2LMHeadModel, ids: torch.Tensor, stride: int) -> float:
    """The loop from https://huggingface.co/docs/transformers/perplexity, as written there."""
    max_length, seq_len = model.config.n_positions, ids.size(1)
    nll_sum, n_tokens, prev_end_loc = 0.0, 0, 0
    for begin_loc in range(0, seq_len, stride):
        end_loc = min(begin_loc + max_length, seq_len)
        trg_len = end_loc - prev_end_loc
        input_ids = ids[:, begin_loc:end_loc]
        target_ids = input_ids.clone()
        target_ids[:, :-trg_len] = -100
        with torch.no_grad():
            neg_log_likelihood = model(input_ids, labels=target_ids).loss
        num_loss_tokens = (target_ids != -100).sum().item() - target_ids.size(0)
        nll_sum += neg_log_likelihood.item() * num_loss_tokens
        n_tokens += num_loss_tokens
        prev_end_loc = end_loc
        if end_loc == seq_len:
            break
    return math.exp(nll_sum / n_tokens)


def hf_exact_nll(model: transformers.GPT2LMHeadModel, ids: torch.Tensor, stride: int) -> tuple[float, int]:
    """The guide's windows, with HF's logits, counting each scored token once: summed NLL and count."""
    seq_len = ids.size(1)
    nll_sum, n_tokens, scored_until = 0.0, 0, 1
    for begin in range(0, seq_len, stride):
        end = min(begin + model.config.n_positions, seq_len)
        with torch.no_grad():
            logits = model(ids[:, begin:end]).logits[0, :-1]  # position i predicts token begin + i + 1
        token_nll = torch.nn.functional.cross_entropy(logits, ids[0, begin + 1 : end], reduction="none")
        new = token_nll[max(scored_until - begin - 1, 0) :]  # targets no earlier window scored
        nll_sum, n_tokens = nll_sum + new.sum().item(), n_tokens + new.numel()
        scored_until = end
        if end == seq_len:
            break
    return nll_sum, n_tokens


@pytest.mark.parametrize("stride", [3, 8, 15, 16])
def test_perplexity_matches_transformers_on_the_same_weights(stride):
    hf = tiny_hf_model()
    model = project_model_from(hf)
    torch.manual_seed(1)
    ids = torch.randint(0, TINY.vocab_size, (1, 75))
    ours = sliding_window_perplexity(model, ids[0].tolist(), stride=stride, progress=False)
    nll_sum, n_tokens = hf_exact_nll(hf, ids, stride)
    assert ours.tokens_scored == n_tokens
    assert ours.perplexity == pytest.approx(math.exp(nll_sum / n_tokens), rel=1e-5)


def test_bf16_weights_change_the_perplexity_by_well_under_a_percent():
    model = project_model_from(tiny_hf_model())
    ids = torch.randint(0, TINY.vocab_size, (60,), generator=torch.Generator().manual_seed(3)).tolist()
    fp32 = sliding_window_perplexity(model, ids, stride=8, progress=False)
    bf16 = sliding_window_perplexity(to_inference_precision(model, "bf16"), ids, stride=8, progress=False)
    assert bf16.tokens_scored == fp32.tokens_scored
    assert bf16.perplexity != fp32.perplexity  # it really ran in bf16
    assert bf16.perplexity == pytest.approx(fp32.perplexity, rel=5e-3)


def test_perplexity_matches_the_guide_loop_where_its_token_count_is_exact():
    # The guide subtracts one label per window for the shift, which is exact when windows do not
    # overlap; with overlap it under-counts each later window by one token (off by ~1/stride).
    hf = tiny_hf_model()
    model = project_model_from(hf)
    torch.manual_seed(2)
    ids = torch.randint(0, TINY.vocab_size, (1, 75))
    ours = sliding_window_perplexity(model, ids[0].tolist(), stride=TINY.context_length, progress=False)
    assert ours.perplexity == pytest.approx(hf_guide_perplexity(hf, ids, TINY.context_length), rel=1e-3)


def test_windows_score_every_token_once_with_enough_context():
    spans = window_spans(num_tokens=40, context_length=16, stride=6)
    assert sum(new for _, _, new in spans) == 39
    for begin, end, new in spans[1:]:
        assert end - new - begin >= 16 - 6  # tokens of context before the first scored one
    assert spans[-1][1] == 40


def test_non_overlapping_windows_leave_each_window_start_unscored():
    spans = window_spans(num_tokens=40, context_length=16, stride=16)
    assert [new for _, _, new in spans] == [15, 15, 7]
    # A last window of a single token has nothing to score: it is left out, not scored as empty.
    assert window_spans(num_tokens=33, context_length=16, stride=16) == [(0, 16, 15), (16, 32, 15)]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"stride": 17}, "stride=17"),
        ({"stride": 0}, "stride=0"),
        ({"context_length": 17}, "context_length=17"),
    ],
)
def test_bad_evaluation_settings_are_one_line_errors(kwargs, message):
    model = GPT(TINY)
    with pytest.raises(ConfigError, match=message):
        sliding_window_perplexity(model, list(range(30)), progress=False, **kwargs)


def test_read_texts_expands_globs_and_lists(tmp_path):
    (tmp_path / "a.txt").write_text("alpha")
    (tmp_path / "b.txt").write_text("beta")
    assert read_texts(str(tmp_path / "*.txt")) == "alpha\nbeta"
    assert read_texts([str(tmp_path / "b.txt"), str(tmp_path / "a.txt")]) == "beta\nalpha"
    with pytest.raises(DataError, match="does not exist"):
        read_texts(str(tmp_path / "missing.txt"))
