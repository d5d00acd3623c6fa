"""Hugging Face folders and project checkpoints: exact round trips, and exports transformers loads."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import GPT2LMHeadModel

from gpt_experiments.checkpoints.project import load_model, save_model
from gpt_experiments.convert.formats import convert, detect_format, load_any_model, read_pretrained
from gpt_experiments.convert.huggingface import read_huggingface, write_huggingface
from gpt_experiments.convert.pretrained import load_into_model, model_from_pretrained
from gpt_experiments.errors import CheckpointError
from gpt_experiments.inference.sampling import SamplerConfig, generate
from gpt_experiments.model import GPT, GPTConfig
from tests.convert.gpt2_checkpoints import TINY_HPARAMS


@pytest.fixture(scope="module")
def model(openai_folder):
    return load_any_model(openai_folder)


def assert_same_weights(a, b):
    state_a, state_b = a.state_dict(), b.state_dict()
    assert state_a.keys() == state_b.keys()
    for name in state_a:
        assert torch.equal(state_a[name], state_b[name]), name


def test_formats_are_detected(openai_folder, model, tmp_path):
    assert detect_format(openai_folder) == "openai"
    assert detect_format(write_huggingface(model, tmp_path / "hf")) == "huggingface"
    assert detect_format(save_model(model, tmp_path / "tiny.ckpt")) == "project"


def test_export_import_round_trip_is_bit_exact(model, tmp_path):
    back = load_any_model(write_huggingface(model, tmp_path / "hf"))
    assert_same_weights(model, back)
    assert back.lm_head.weight is back.wte.weight


def test_project_checkpoint_round_trip_is_bit_exact(model, tmp_path):
    back = load_model(save_model(model, tmp_path / "run" / "tiny.ckpt"))
    assert_same_weights(model, back)
    assert back.lm_head.weight is back.wte.weight


def test_converting_a_checkpoint_onto_itself_keeps_it_whole(model, tmp_path):
    """Loading maps the file's tensors; overwriting it in place would pull them from under the model."""
    path = save_model(model, tmp_path / "tiny.ckpt")
    convert(path, path, to="project", overwrite=True)  # e.g. to drop a training checkpoint's optimizer state
    assert_same_weights(model, load_model(path))
    assert [p.name for p in tmp_path.iterdir()] == ["tiny.ckpt"]  # no temporary file left


def test_bf16_checkpoints_load_as_fp32_models(model, tmp_path):
    path = save_model(copy.deepcopy(model).to(torch.bfloat16), tmp_path / "bf16.ckpt")
    back = load_model(path)
    assert {p.dtype for p in back.parameters()} == {torch.float32}
    assert back.lm_head.weight is back.wte.weight
    torch.testing.assert_close(back.wte.weight, model.wte.weight.bfloat16().float())


def test_transformers_loads_the_export(model, tiny_tokens, tmp_path):
    folder = write_huggingface(model, tmp_path / "hf")
    hf_model = GPT2LMHeadModel.from_pretrained(folder).eval()
    assert hf_model.lm_head.weight.data_ptr() == hf_model.transformer.wte.weight.data_ptr()
    with torch.no_grad():
        assert torch.allclose(model(tiny_tokens), hf_model(tiny_tokens).logits, atol=1e-4, rtol=0)


def test_hub_layout_without_prefix_and_pytorch_bin(model, tmp_path):
    """Hub files drop the ``transformer.`` prefix; older ones are pickled ``pytorch_model.bin``."""
    exported = write_huggingface(model, tmp_path / "hf")
    hub_state = {
        name.removeprefix("transformer."): tensor
        for name, tensor in load_file(exported / "model.safetensors").items()
    }
    hub_state["h.0.attn.bias"] = torch.ones(1, 1, 17, 17)  # causal-mask buffer of old transformers files
    for folder, save in (
        (tmp_path / "hub", lambda path: save_file(hub_state, path / "model.safetensors")),
        (tmp_path / "bin", lambda path: torch.save(hub_state, path / "pytorch_model.bin")),
    ):
        folder.mkdir()
        (folder / "config.json").write_text((exported / "config.json").read_text())
        save(folder)
        assert_same_weights(model, model_from_pretrained(read_huggingface(folder)))


def test_export_of_model_without_qkv_bias_loads_in_transformers(model, tiny_tokens, tmp_path):
    torch.manual_seed(0)
    no_bias = GPT(GPTConfig(**{**model.config.to_dict(), "qkv_bias": False})).eval()
    hf_model = GPT2LMHeadModel.from_pretrained(write_huggingface(no_bias, tmp_path / "hf")).eval()
    with torch.no_grad():
        assert torch.allclose(no_bias(tiny_tokens), hf_model(tiny_tokens).logits, atol=1e-4, rtol=0)


def test_export_config_matches_model(model, tmp_path):
    config = json.loads((write_huggingface(model, tmp_path / "hf") / "config.json").read_text())
    assert (config["n_embd"], config["n_head"], config["n_layer"]) == (20, 5, 3)
    assert (config["vocab_size"], config["n_positions"]) == (TINY_HPARAMS["n_vocab"], TINY_HPARAMS["n_ctx"])


def test_folder_without_weights_is_a_one_line_error(model, tmp_path):
    folder = write_huggingface(model, tmp_path / "hf")
    (folder / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="neither model.safetensors nor pytorch_model.bin") as err:
        read_pretrained(folder)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "settings", [{"tie_embeddings": False}, {"tie_embeddings": False, "pad_vocab_to_multiple": 64}]
)
def test_untied_model_exports_its_own_head_and_round_trips(model, tiny_tokens, tmp_path, settings):
    untied = GPT(GPTConfig(**{**model.config.to_dict(), **settings})).eval()
    folder = convert(save_model(untied, tmp_path / "untied.ckpt"), tmp_path / "hf", to="huggingface")
    assert json.loads((folder / "config.json").read_text())["tie_word_embeddings"] is False
    assert "lm_head.weight" in load_file(folder / "model.safetensors")  # beside, not inside, transformer.
    back = load_any_model(folder)
    hf_model = GPT2LMHeadModel.from_pretrained(folder).eval()
    assert hf_model.lm_head.weight.data_ptr() != hf_model.transformer.wte.weight.data_ptr()
    with torch.no_grad():
        expected = untied(tiny_tokens)
        assert torch.equal(back(tiny_tokens), expected)
        assert torch.allclose(hf_model(tiny_tokens).logits, expected, atol=1e-5, rtol=0)
        # The head matters: tying it to wte (the old export's reading) changes the logits.
        assert not torch.allclose(tied_copy(untied)(tiny_tokens), expected, atol=1e-2)


def tied_copy(untied: GPT) -> GPT:
    tied = GPT(GPTConfig(**{**untied.config.to_dict(), "tie_embeddings": True})).eval()
    tied.load_state_dict(
        {k: v for k, v in untied.state_dict().items() if k != "lm_head.weight"}, strict=False
    )
    return tied


def test_small_vocabulary_export_has_no_end_of_text_id(model, tmp_path):
    """GPT2Config's default bos/eos id 50256 lies outside a tiny vocabulary: null is written instead."""
    folder = write_huggingface(model, tmp_path / "hf")
    config = json.loads((folder / "config.json").read_text())
    assert (config["bos_token_id"], config["eos_token_id"]) == (None, None)
    hf_config = GPT2LMHeadModel.from_pretrained(folder).config
    assert (hf_config.bos_token_id, hf_config.eos_token_id) == (None, None)


def test_untied_checkpoint_initialises_an_untied_model_only(model, tmp_path):
    untied = GPT(GPTConfig(**{**model.config.to_dict(), "tie_embeddings": False})).eval()
    path = save_model(untied, tmp_path / "untied.ckpt")
    target = GPT(untied.config)
    load_into_model(target, read_pretrained(path, "project"))
    assert_same_weights(untied, target)
    with pytest.raises(
        CheckpointError, match="has an untied output head, but model.tie_embeddings=true: set"
    ):
        load_into_model(GPT(model.config), read_pretrained(path, "project"))


@pytest.mark.parametrize(
    "settings",
    [{}, {"tie_embeddings": False}, {"pad_vocab_to_multiple": 64}, {"qkv_bias": False}],
    ids=["tied", "untied", "padded-vocab", "no-qkv-bias"],
)
def test_cached_steps_and_greedy_generation_equal_transformers(settings, tmp_path):
    """The generation path against GPT2LMHeadModel with its own KV cache: the logits of a
    5-token prompt and 12 single-token steps, and the greedy continuation of hf.generate."""
    torch.manual_seed(0)
    config = dict(vocab_size=101, context_length=17, emb_dim=20, n_heads=5, n_layers=3, drop_rate=0.0)
    ours = GPT(GPTConfig(**config, **settings)).eval()
    hf_model = GPT2LMHeadModel.from_pretrained(write_huggingface(ours, tmp_path / "hf")).eval()
    tokens = torch.randint(0, 101, (2, 17), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        cache = ours.new_cache()
        steps = [ours(tokens[:, :5], cache)] + [ours(tokens[:, i : i + 1], cache) for i in range(5, 17)]
        hf_out = hf_model(tokens[:, :5], use_cache=True)
        hf_steps = [hf_out.logits]
        for i in range(5, 17):
            hf_out = hf_model(tokens[:, i : i + 1], past_key_values=hf_out.past_key_values, use_cache=True)
            hf_steps.append(hf_out.logits)
        torch.testing.assert_close(torch.cat(steps, 1), torch.cat(hf_steps, 1), rtol=0, atol=1e-5)
        hf_greedy = hf_model.generate(tokens[:, :5], max_new_tokens=12, do_sample=False, pad_token_id=0)
    greedy = generate(ours, tokens[:, :5].tolist(), SamplerConfig(max_new_tokens=12, temperature=0.0))
    assert greedy == hf_greedy.tolist()
