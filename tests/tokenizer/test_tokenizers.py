"""The four tokenizer kinds behind one interface: round trips, saved forms, bytes per token."""

from __future__ import annotations

import io
import json
import pickle

import pytest
import torch
from omegaconf import OmegaConf

from gpt_experiments.data.token_cache import SplitSettings, cache_key, token_encoder
from gpt_experiments.errors import ConfigError, DataError
from gpt_experiments.tokenizer import DOCUMENT_BREAK, END_OF_TEXT, KINDS, build_tokenizer, gpt2
from gpt_experiments.tokenizer.char import CharTokenizer
from gpt_experiments.tokenizer.huggingface import HuggingFaceTokenizer
from tests.tokenizer.sample_files import MERGES, write_huggingface_json, write_ranks_file

TEXT = "the naïve café — 東京 then the end"
# A document quoting the separator's text, as a web page or a code file may.
QUOTING = "It was written <|endoftext|> in"


@pytest.fixture
def tokenizers(tmp_path):
    """One tokenizer of every kind, built from its config."""
    return {
        "gpt2": build_tokenizer({"kind": "gpt2"}),
        "tiktoken": build_tokenizer(
            {
                "kind": "tiktoken",
                "path": str(write_ranks_file(tmp_path / "r.tiktoken")),
                "special_tokens": {END_OF_TEXT: None},
            }
        ),
        "huggingface": build_tokenizer(
            {"kind": "huggingface", "path": str(write_huggingface_json(tmp_path / "t.json", TEXT * 20))}
        ),
        "char": build_tokenizer({"kind": "char"}, corpus=lambda: iter([TEXT, DOCUMENT_BREAK, "!", QUOTING])),
    }


@pytest.mark.parametrize("kind", ["gpt2", "tiktoken", "huggingface", "char"])
def test_round_trip_saved_form_and_bytes(tokenizers, kind):
    tokenizer = tokenizers[kind]
    text = TEXT + END_OF_TEXT + "the end!"
    ids = tokenizer.encode(text)
    assert tokenizer.decode(ids) == text
    assert ids.count(tokenizer.eot_id) == 1 and max(ids) < tokenizer.vocab_size
    # The tokens' bytes concatenate to the text's UTF-8 bytes; <|endoftext|> stands for none.
    assert b"".join(tokenizer.token_bytes(i) for i in ids) == text.replace(END_OF_TEXT, "").encode()
    assert int(tokenizer.byte_lengths[ids].sum()) == len(text.replace(END_OF_TEXT, "").encode())
    # The saved form is plain containers: it survives a weights_only load and rebuilds the same ids.
    buffer = io.BytesIO()
    torch.save({"tokenizer": tokenizer.to_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)["tokenizer"]
    rebuilt = build_tokenizer(saved)
    assert rebuilt.encode(text) == ids and rebuilt.identity == tokenizer.identity
    assert rebuilt.vocab_size == tokenizer.vocab_size


def test_identities_differ_and_enter_the_cache_key(tokenizers):
    identities = {t.identity for t in tokenizers.values()}
    assert len(identities) == 4
    keys = {cache_key("corpus", SplitSettings(), token_encoder(t)) for t in tokenizers.values()}
    assert len(keys) == 4


def test_custom_ranks_merge_as_written(tokenizers):
    tokenizer = tokenizers["tiktoken"]
    assert tokenizer.vocab_size == 256 + len(MERGES) + 1  # + <|endoftext|>
    assert tokenizer.eot_id == 256 + len(MERGES)
    assert tokenizer.encode("the the") == [256 + MERGES.index(b"the"), 256 + MERGES.index(b" the")]


@pytest.mark.parametrize("kind", KINDS)
def test_document_text_is_ordinary_text_and_separators_are_ids(tokenizers, kind):
    tokenizer = tokenizers[kind]
    ordinary = tokenizer.encode_ordinary(QUOTING)
    assert tokenizer.eot_id not in ordinary and tokenizer.decode(ordinary) == QUOTING
    pieces = [QUOTING, DOCUMENT_BREAK, "the end!"]
    assert tokenizer.encode_documents(pieces) == [
        *ordinary,
        tokenizer.eot_id,
        *tokenizer.encode_ordinary("the end!"),
    ]
    # A prompt is typed by a user, who may mean the token.
    assert tokenizer.encode(QUOTING).count(tokenizer.eot_id) == 1


# GPT-2's ids of " written <|endoftext|> in" as a document (encode_ordinary, as llm.c's and
# nanoGPT's data scripts call it: " <", "|", "end", "of", "text", "|", ">") and as a prompt.
DOCUMENT_IDS = [3194, 1279, 91, 437, 1659, 5239, 91, 29, 287]
PROMPT_IDS = [3194, 220, 50256, 287]


def test_gpt2_reads_documents_as_llmc_and_nanogpt_do():
    assert gpt2().encode_ordinary(" written <|endoftext|> in") == DOCUMENT_IDS
    assert gpt2().encode(" written <|endoftext|> in") == PROMPT_IDS


def test_huggingface_end_of_text_added_as_an_ordinary_token_is_still_text(tmp_path):
    path = write_huggingface_json(tmp_path / "t.json", TEXT * 20)
    spec = json.loads(path.read_text())
    for token in spec["added_tokens"]:
        token["special"] = False
    tokenizer = HuggingFaceTokenizer(json.dumps(spec))
    assert tokenizer.eot_id is not None and tokenizer.eot_id not in tokenizer.encode_ordinary(QUOTING)


@pytest.mark.parametrize("text", ["ñandú  then    the end", "    ", "the naïve 東京    ñandú😀"])
def test_huggingface_added_tokens_count_their_utf8_bytes(tmp_path, text):
    """Added tokens hold plain text, not byte-level characters: the "ñ" of "ñandú" stands for 2
    bytes, not the 1 byte (0xF1) of the byte-level character it looks like, and a run of spaces
    (as code tokenizers add) is no such character at all."""
    path = write_huggingface_json(tmp_path / "t.json", TEXT * 20)
    spec = json.loads(path.read_text())
    for number, content in enumerate(["    ", "ñandú"], start=len(spec["model"]["vocab"])):
        spec["added_tokens"].append(
            {
                "id": number,
                "content": content,
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": False,
                "special": False,
            }
        )
    tokenizer = HuggingFaceTokenizer(json.dumps(spec))
    ids = tokenizer.encode_ordinary(text)
    assert set(ids) & {len(spec["model"]["vocab"]) + i for i in range(2)}  # an added token is used
    assert b"".join(tokenizer.token_bytes(i) for i in ids) == text.encode()
    assert int(tokenizer.byte_lengths[ids].sum()) == len(text.encode())


def test_several_documents_need_a_separator_token(tmp_path):
    ranks = write_ranks_file(tmp_path / "r.tiktoken")
    tokenizer = build_tokenizer({"kind": "tiktoken", "path": str(ranks)})  # no special tokens
    assert tokenizer.encode_documents(["one document"]) == tokenizer.encode_ordinary("one document")
    with pytest.raises(ConfigError, match="has no <\\|endoftext\\|> token to separate them"):
        tokenizer.encode_documents(["one", DOCUMENT_BREAK, "two"])


def test_char_vocabulary_is_the_corpus_characters():
    tokenizer = CharTokenizer.from_corpus(["hello", DOCUMENT_BREAK, "world"])
    assert tokenizer.chars == "dehlorw" and tokenizer.vocab_size == 8 and tokenizer.eot_id == 7
    assert tokenizer.encode("hold") == [2, 4, 3, 0]  # d e h l o r w
    with pytest.raises(DataError, match="'z' is not in the char tokenizer's vocabulary"):
        tokenizer.encode("zoo")


def test_gpt2_kind_is_the_bundled_encoding():
    assert build_tokenizer(None) is gpt2() and gpt2().encode("Every effort moves you") == [
        6109,
        3626,
        6100,
        345,
    ]
    assert gpt2().eot_id == 50256 and gpt2().byte_lengths[50256] == 0


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"kind": "sentencepiece"}, "tokenizer.kind='sentencepiece' is unknown"),
        ({"kind": "tiktoken", "path": "missing.tiktoken"}, "tokenizer.path='missing.tiktoken' is not a file"),
        ({"kind": "huggingface", "path": None}, "tokenizer.path=None is not a file"),
        ({"kind": "tiktoken", "ranks": "not base64!! 0\n"}, "line 1 is not '<base64 token> <rank>'"),
        ({"kind": "char"}, "needs the corpus"),
    ],
)
def test_bad_tokenizer_settings_are_one_line(spec, message):
    with pytest.raises(ConfigError, match=message) as err:
        build_tokenizer(spec)
    assert "\n" not in str(err.value)


def test_tiktoken_tokenizers_are_cached_by_threads(tokenizers):
    """Threads only where ``encode`` releases Python's lock (tiktoken's Rust core); processes elsewhere."""
    releases = {kind: token_encoder(tokenizer).releases_gil for kind, tokenizer in tokenizers.items()}
    assert releases == {"gpt2": True, "tiktoken": True, "huggingface": False, "char": False}


def test_a_tokenizer_pickles_as_its_saved_form(tokenizers):
    """Worker processes receive the tokenizer pickled: it must arrive tokenizing the same."""
    for tokenizer in tokenizers.values():
        copy = pickle.loads(pickle.dumps(token_encoder(tokenizer).encode))
        pieces = pickle.loads(pickle.dumps([TEXT, DOCUMENT_BREAK, QUOTING]))
        assert pieces[1] is DOCUMENT_BREAK and copy(pieces) == tokenizer.encode_documents(pieces)


def test_evaluated_text_files_are_ordinary_text(tmp_path):
    from gpt_experiments.cli.evaluate import perplexity_tokens

    (tmp_path / "notes.txt").write_text(" written <|endoftext|> in", encoding="utf-8")
    _, tokens = perplexity_tokens(OmegaConf.create({"text_path": str(tmp_path / "notes.txt")}), gpt2())
    assert tokens == DOCUMENT_IDS


@pytest.mark.parametrize(
    ("kind", "encoding", "what"),
    [("tiktoken", "ascii", "tiktoken ranks"), ("huggingface", "utf-8", "Hugging Face tokenizer.json")],
)
def test_a_tokenizer_file_that_is_not_text_is_one_line(tmp_path, kind, encoding, what):
    (tmp_path / "binary").write_bytes(b"\x00\x01caf\xe9\xff")
    with pytest.raises(ConfigError) as info:
        build_tokenizer({"kind": kind, "path": str(tmp_path / "binary")})
    assert (
        str(info.value)
        == f"tokenizer.path={tmp_path / 'binary'} is not {encoding} text (byte 5): give a {what} file"
    )
