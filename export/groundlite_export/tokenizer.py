"""``tokenizer.json`` for OWL packages: CLIP byte-level BPE, padded with id 0 to 16 tokens.

The runtime loads the file with the ``tokenizers`` library alone. A real checkpoint's own
tokenizer is converted as is; random-init packages get the CLIP tokenizer built from the vendored
CLIP vocabulary (or ``open_clip``'s identical copy when that package is installed).

OWL-ViT pads text queries with token id 0 (``"!"``) to ``max_text_length`` (16): the detection
head treats a query whose *first* id is 0 as padding, and the text tower pools at the argmax id
(``<|endoftext|>``, the highest id), so pad id 0 never changes a real query's embedding.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
from pathlib import Path
from typing import Any

from groundlite.errors import ExportError

__all__ = [
    "VOCAB_SHA256",
    "PAD_TOKEN",
    "PAD_TOKEN_ID",
    "vocab_path",
    "clip_vocab_and_merges",
    "build_clip_tokenizer",
    "tokenizer_from_checkpoint",
    "configure_owl_tokenizer",
]

VOCAB_FILE = "bpe_simple_vocab_16e6.txt.gz"
#: SHA-256 of CLIP's ``bpe_simple_vocab_16e6.txt.gz`` (see export/assets/README.md)
VOCAB_SHA256 = "924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a"
PAD_TOKEN = "!"
PAD_TOKEN_ID = 0
BOS_TOKEN = "<|startoftext|>"
EOS_TOKEN = "<|endoftext|>"
#: CLIP keeps the first 49152 - 256 - 2 merges of the file
_N_MERGES = 49152 - 256 - 2

_VENDORED = Path(__file__).parent / "assets" / VOCAB_FILE


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def vocab_path() -> Path:
    """Path of the CLIP BPE vocabulary: ``open_clip``'s copy when installed (checked equal), else ours.

    ``open_clip`` is located with ``importlib.util.find_spec`` and never imported (importing it
    pulls torchvision).
    """
    spec = importlib.util.find_spec("open_clip")
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            candidate = Path(loc) / VOCAB_FILE
            if candidate.is_file():
                if _sha256(candidate) != VOCAB_SHA256:
                    raise ExportError(
                        f"expected open_clip's {VOCAB_FILE} to have SHA-256 {VOCAB_SHA256[:16]}..., "
                        f"got {_sha256(candidate)[:16]}...; reinstall open-clip-torch or uninstall it"
                    )
                return candidate
    if _sha256(_VENDORED) != VOCAB_SHA256:
        raise ExportError(f"expected the vendored {VOCAB_FILE} to have SHA-256 {VOCAB_SHA256[:16]}..., got another file")
    return _VENDORED


def bytes_to_unicode() -> dict[int, str]:
    """CLIP/GPT-2's reversible byte -> printable-unicode map (the byte-level alphabet)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def clip_vocab_and_merges(path: Path | None = None) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """CLIP's vocabulary (token -> id, 49408 entries) and merge list, built as CLIP's
    ``SimpleTokenizer`` does: byte alphabet, its ``</w>`` variants, one token per merge, then
    ``<|startoftext|>`` and ``<|endoftext|>``."""
    text = gzip.open(path or vocab_path()).read().decode("utf-8")
    merges = [tuple(line.split()) for line in text.split("\n")[1 : _N_MERGES + 1]]
    alphabet = list(bytes_to_unicode().values())
    tokens = alphabet + [t + "</w>" for t in alphabet] + ["".join(m) for m in merges] + [BOS_TOKEN, EOS_TOKEN]
    return {t: i for i, t in enumerate(tokens)}, [(a, b) for a, b in merges]


def configure_owl_tokenizer(tokenizer: Any, max_length: int, pad_id: int = PAD_TOKEN_ID) -> Any:
    """Make ``tokenizer`` (a ``tokenizers.Tokenizer``) pad with ``pad_id`` to ``max_length`` and
    truncate longer phrases (keeping the start and end tokens), as OWL's processor does."""
    pad_token = tokenizer.id_to_token(pad_id)
    tokenizer.enable_truncation(max_length=max_length)
    tokenizer.enable_padding(direction="right", pad_id=pad_id, pad_token=pad_token, length=max_length)
    return tokenizer


def build_clip_tokenizer(max_length: int = 16) -> Any:
    """The CLIP tokenizer as a ``tokenizers.Tokenizer`` (padding/truncation to ``max_length``).

    Built through transformers' ``CLIPTokenizer`` class from the vocabulary and merges, which sets
    CLIP's normaliser (NFC, whitespace collapse, lower-case), pre-tokeniser (CLIP's split regex
    + byte-level) and start/end post-processor — the same pipeline its ``CLIPConverter`` produces.
    """
    from transformers import CLIPTokenizer

    vocab, merges = clip_vocab_and_merges()
    hf = CLIPTokenizer(vocab=vocab, merges=merges)
    return configure_owl_tokenizer(hf.backend_tokenizer, max_length)


def tokenizer_from_checkpoint(directory: str | Path, max_length: int = 16) -> Any:
    """The checkpoint's own fast tokenizer (a directory or a cached model id) as a
    ``tokenizers.Tokenizer``, padding to ``max_length``.

    Raises :class:`ExportError` when ``directory`` holds no loadable tokenizer files.
    """
    from transformers import AutoTokenizer

    try:
        hf = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
    except Exception as e:  # transformers raises OSError/ValueError/KeyError variants here
        raise ExportError(
            f"expected tokenizer files (tokenizer.json or vocab.json + merges.txt) in {str(directory)!r}, "
            f"got an error loading them: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
        ) from None
    backend = getattr(hf, "backend_tokenizer", None)
    if backend is None:
        raise ExportError(f"expected a fast (tokenizers-backed) tokenizer in {str(directory)!r}, got {type(hf).__name__}")
    pad_id = hf.pad_token_id if hf.pad_token_id is not None else PAD_TOKEN_ID
    return configure_owl_tokenizer(backend, max_length, pad_id)
