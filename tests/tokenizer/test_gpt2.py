import hashlib
import random
from importlib import resources

import tiktoken
from tiktoken_ext.openai_public import r50k_pat_str

from gpt_experiments.config import asset_path
from gpt_experiments.tokenizer import END_OF_TEXT_ID, GPT2_RANKS_SHA256, decode, encode, gpt2_tokenizer


def read_asset(name: str) -> str:
    with open(asset_path(name), encoding="utf-8") as f:
        return f.read()


def test_ranks_file_is_the_gpt2_one():
    data = (resources.files("gpt_experiments") / "assets" / "gpt2.tiktoken").read_bytes()
    assert hashlib.sha256(data).hexdigest() == GPT2_RANKS_SHA256


def test_vocabulary_and_end_of_text():
    tokenizer = gpt2_tokenizer()
    assert tokenizer.n_vocab == 50257
    assert encode("<|endoftext|>") == [END_OF_TEXT_ID] == [50256]


def test_known_encodings():
    assert encode("Every effort moves you") == [6109, 3626, 6100, 345]
    assert decode([6109, 3626, 6100, 345]) == "Every effort moves you"
    assert encode("Hello, world!") == [15496, 11, 995, 0]


def test_the_verdict_is_5145_tokens():
    text = read_asset("the-verdict.txt")
    assert len(text) == 20_479
    assert len(gpt2_tokenizer().encode_ordinary(text)) == 5_145


def test_tiny_shakespeare_splits_into_301966_and_36059_tokens():
    text = read_asset("tinyshakespeare.txt")
    split_at = int(0.9 * len(text))  # the seed's 90/10 split by characters
    parts = {"train": text[:split_at], "val": text[split_at:]}
    counts = {name: len(gpt2_tokenizer().encode_ordinary(text)) for name, text in parts.items()}
    assert counts == {"train": 301_966, "val": 36_059}


# Characters where the pre-tokenizer's rules meet: contractions, digits, runs of spaces and
# newlines (trailing or not), non-breaking and ideographic spaces, accents, emoji.
AWKWARD = [
    "a",
    "B",
    " ",
    "  ",
    "\n",
    "\r\n",
    "\t",
    "\u00a0",
    "\u3000",
    "'s",
    "'LL",
    "'ve",
    "1",
    "23",
    "é",
    "😀",
    "東",
    ".",
    "!?",
    "<|endoftext|>",
]


def test_the_bundled_encoding_splits_text_as_tiktokens_gpt2():
    """tiktoken's own gpt2 pattern (a possessive rewrite of GPT-2's) over the bundled ranks: the
    same ids for random strings of awkward pieces, as ordinary text and as prompts."""
    ours = gpt2_tokenizer()
    reference = tiktoken.Encoding(
        name="gpt2_reference",
        pat_str=r50k_pat_str,
        mergeable_ranks=ours._mergeable_ranks,
        special_tokens={"<|endoftext|>": END_OF_TEXT_ID},
    )
    rng = random.Random(0)
    for _ in range(3000):
        text = "".join(rng.choice(AWKWARD) for _ in range(rng.randint(1, 10)))
        assert ours.encode_ordinary(text) == reference.encode_ordinary(text), repr(text)
        assert encode(text) == reference.encode(text, allowed_special={"<|endoftext|>"}), repr(text)
