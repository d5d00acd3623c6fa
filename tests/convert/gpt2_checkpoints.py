"""A tiny GPT-2 in OpenAI's real checkpoint layout, and a Hugging Face reference built from it.

Odd shapes (5 heads of 4 dims, 3 layers, vocab 101, 17 positions) and random,
non-symmetric values make a wrong split, transpose or renaming change the logits.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

TINY_HPARAMS = {"n_vocab": 101, "n_ctx": 17, "n_embd": 20, "n_head": 5, "n_layer": 3}


def openai_arrays(hparams: dict, seed: int = 0) -> dict[str, np.ndarray]:
    """Random weights named and shaped as OpenAI's TF1 variables (convolutions are [1, in, out])."""
    rng = np.random.default_rng(seed)
    emb, vocab, ctx = hparams["n_embd"], hparams["n_vocab"], hparams["n_ctx"]

    def normal(*shape: int, scale: float = 0.2, mean: float = 0.0) -> np.ndarray:
        return (mean + scale * rng.standard_normal(shape)).astype(np.float32)

    arrays = {"model/wte": normal(vocab, emb), "model/wpe": normal(ctx, emb)}
    for layer in range(hparams["n_layer"]):
        p = f"model/h{layer}/"
        for norm in ("ln_1", "ln_2"):
            arrays[p + norm + "/g"] = normal(emb, mean=1.0)
            arrays[p + norm + "/b"] = normal(emb)
        for conv, n_in, n_out in (
            ("attn/c_attn", emb, 3 * emb),
            ("attn/c_proj", emb, emb),
            ("mlp/c_fc", emb, 4 * emb),
            ("mlp/c_proj", 4 * emb, emb),
        ):
            arrays[p + conv + "/w"] = normal(1, n_in, n_out)
            arrays[p + conv + "/b"] = normal(n_out)
    arrays["model/ln_f/g"] = normal(emb, mean=1.0)
    arrays["model/ln_f/b"] = normal(emb)
    return arrays


def write_openai_folder(folder: Path, arrays: dict[str, np.ndarray], hparams: dict) -> Path:
    """Write the seven files of an OpenAI release, the checkpoint through a TF1 Saver."""
    import tensorflow as tf

    folder.mkdir(parents=True, exist_ok=True)
    graph = tf.Graph()
    with graph.as_default():
        variables = [tf.compat.v1.Variable(value, name=name) for name, value in arrays.items()]
        saver = tf.compat.v1.train.Saver(variables)
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(tf.compat.v1.global_variables_initializer())
            saver.save(session, str(folder / "model.ckpt"))
    (folder / "hparams.json").write_text(json.dumps(hparams))
    (folder / "encoder.json").write_text("{}")
    (folder / "vocab.bpe").write_text("#version: 0.2\n")
    return folder


def hf_reference(arrays: dict[str, np.ndarray], hparams: dict):
    """A ``transformers.GPT2LMHeadModel`` filled straight from the OpenAI arrays.

    Hugging Face's Conv1D stores weights [in, out] like OpenAI, so no code under test is
    involved: ``w[0]`` goes in unchanged.
    """
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=hparams["n_vocab"],
        n_positions=hparams["n_ctx"],
        n_embd=hparams["n_embd"],
        n_head=hparams["n_head"],
        n_layer=hparams["n_layer"],
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=0,
        eos_token_id=0,
    )
    model = GPT2LMHeadModel(config).eval()
    leaf = {"g": "weight", "b": "bias", "w": "weight"}
    state = {}
    for name, value in arrays.items():
        parts = name.removeprefix("model/").split("/")
        if parts[0] in ("wte", "wpe"):
            hf_name = f"transformer.{parts[0]}.weight"
        else:
            block = [parts[0]] if parts[0] == "ln_f" else ["h", parts[0][1:], *parts[1:-1]]
            hf_name = "transformer." + ".".join([*block, leaf[parts[-1]]])
        state[hf_name] = torch.from_numpy(value[0] if parts[-1] == "w" else value)
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and set(missing) <= {"lm_head.weight"}, (missing, unexpected)
    model.tie_weights()
    return model
