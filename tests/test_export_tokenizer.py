"""tokenizer.json for OWL packages against two references: CLIP's own BPE algorithm (re-implemented
here in plain Python from the vendored vocabulary) and transformers' CLIPTokenizer loaded from
vocab.json + merges.txt files."""

from __future__ import annotations

import functools
import gzip
import json

import pytest

regex = pytest.importorskip("regex")

from groundlite_export import tokenizer as tk

PHRASES = [
    "a photo of a cat", "A  Rocket!!", "astronaut's helmet", "two dogs, one ball", "the 3rd floor",
    "ünïcödé café", "hot-dog stand", "   leading and trailing   ", "a person riding a horse at sunset",
    "a very long phrase that certainly goes beyond sixteen tokens in total length for sure",
    "x", "I'm here, you're there", "emoji 🙂 face",
]


class ClipReference:
    """CLIP's SimpleTokenizer BPE (OpenAI CLIP, MIT licence), minus ftfy/html clean-up."""

    def __init__(self) -> None:
        merges = gzip.open(tk.vocab_path()).read().decode("utf-8").split("\n")[1 : 49152 - 256 - 2 + 1]
        merges = [tuple(m.split()) for m in merges]
        self.byte_encoder = tk.bytes_to_unicode()
        vocab = list(self.byte_encoder.values())
        vocab = vocab + [v + "</w>" for v in vocab] + ["".join(m) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
        self.encoder = dict(zip(vocab, range(len(vocab))))
        self.ranks = dict(zip(merges, range(len(merges))))
        self.pat = regex.compile(r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
                                 regex.IGNORECASE)

    @functools.lru_cache(maxsize=None)
    def bpe(self, token: str) -> str:
        word = tuple(token[:-1]) + (token[-1] + "</w>",)
        while len(word) > 1:
            pairs = {(word[i], word[i + 1]) for i in range(len(word) - 1)}
            best = min(pairs, key=lambda p: self.ranks.get(p, float("inf")))
            if best not in self.ranks:
                break
            first, second = best
            new, i = [], 0
            while i < len(word):
                if i < len(word) - 1 and word[i] == first and word[i + 1] == second:
                    new.append(first + second)
                    i += 2
                else:
                    new.append(word[i])
                    i += 1
            word = tuple(new)
        return " ".join(word)

    def encode(self, text: str, length: int = 16) -> list[int]:
        import unicodedata

        text = regex.sub(r"\s+", " ", unicodedata.normalize("NFC", text)).strip().lower()
        ids = []
        for token in regex.findall(self.pat, text):
            token = "".join(self.byte_encoder[b] for b in token.encode("utf-8"))
            ids.extend(self.encoder[t] for t in self.bpe(token).split(" "))
        ids = [49406] + ids[: length - 2] + [49407]
        return ids + [0] * (length - len(ids))


@pytest.fixture(scope="module")
def ours():
    from tokenizers import Tokenizer

    pytest.importorskip("transformers")
    return Tokenizer.from_str(tk.build_clip_tokenizer(16).to_str())  # round-trip through JSON


def test_vocab_file_is_the_published_clip_vocabulary():
    assert tk.vocab_path().is_file()
    vocab, merges = tk.clip_vocab_and_merges()
    assert len(vocab) == 49408 and len(merges) == 49152 - 256 - 2
    assert vocab["<|startoftext|>"] == 49406 and vocab["<|endoftext|>"] == 49407 and vocab["!"] == 0


def test_ids_match_clip_reference_bpe(ours):
    ref = ClipReference()
    for phrase in PHRASES:
        assert ours.encode(phrase).ids == ref.encode(phrase), phrase


def test_ids_match_transformers_clip_tokenizer_from_files(ours, tmp_path):
    transformers = pytest.importorskip("transformers")
    vocab, merges = tk.clip_vocab_and_merges()
    (tmp_path / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (tmp_path / "merges.txt").write_text("#version: 0.2\n" + "\n".join(f"{a} {b}" for a, b in merges) + "\n", encoding="utf-8")
    # default pad token: declaring "!" special would also split "!!" inside phrases
    hf = transformers.CLIPTokenizer(vocab=str(tmp_path / "vocab.json"), merges=str(tmp_path / "merges.txt"))
    expected = hf(PHRASES, padding="max_length", truncation=True, max_length=16)
    got = ours.encode_batch(PHRASES)
    assert [e.attention_mask for e in got] == expected["attention_mask"]
    padded_with_zero = [[i if m else 0 for i, m in zip(ids, mask)]
                        for ids, mask in zip(expected["input_ids"], expected["attention_mask"])]
    assert [e.ids for e in got] == padded_with_zero


def test_padding_and_truncation_follow_owl(ours):
    short, long = ours.encode_batch(["a cat", PHRASES[9]])
    assert short.ids[:4] == [49406, 320, 2368, 49407] and short.ids[4:] == [0] * 12
    assert short.attention_mask == [1] * 4 + [0] * 12
    assert len(long.ids) == 16 and long.ids[0] == 49406 and long.ids[-1] == 49407  # end token kept


def test_checkpoint_tokenizer_conversion_matches_its_transformers_tokenizer(tiny_owlvit_hf_dir):
    from transformers import AutoTokenizer

    conv = tk.tokenizer_from_checkpoint(tiny_owlvit_hf_dir, 16)
    hf = AutoTokenizer.from_pretrained(str(tiny_owlvit_hf_dir), local_files_only=True)
    expected = hf(PHRASES, padding="max_length", truncation=True, max_length=16)
    assert [e.ids for e in conv.encode_batch(PHRASES)] == expected["input_ids"]
    assert conv.padding["pad_id"] == 0 and conv.padding["length"] == 16


def test_checkpoint_without_tokenizer_is_a_clear_error(tmp_path):
    pytest.importorskip("transformers")
    from groundlite.errors import ExportError

    with pytest.raises(ExportError, match="expected tokenizer files"):
        tk.tokenizer_from_checkpoint(tmp_path, 16)
