"""Phrase tokenisation for the OWL text encoder, from the package's ``tokenizer.json``.

Uses the ``tokenizers`` library only (no transformers). Phrases are encoded with the tokenizer's
own special tokens, padded to the manifest's ``max_text_length`` with its pad id, and phrases that
are too long are cut (keeping the final end-of-text token) with a :class:`PhraseTruncatedWarning`.
"""

from __future__ import annotations

import threading
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import ManifestError

__all__ = ["PhraseTokenizer", "PhraseTruncatedWarning"]


class PhraseTruncatedWarning(UserWarning):
    """A phrase had more tokens than the text encoder's context and was cut."""


class PhraseTokenizer:
    """Encode phrases to ``input_ids`` / ``attention_mask`` int64 ``[Q, max_length]``."""

    def __init__(self, path: Path, max_length: int, pad_id: int) -> None:
        from tokenizers import Tokenizer

        if not isinstance(max_length, int) or max_length < 2:
            raise ManifestError(f"expected max_text_length to be an int >= 2, got {max_length!r}")
        try:
            tok = Tokenizer.from_file(str(path))
        except Exception as e:  # tokenizers raises a bare Exception on bad JSON
            raise ManifestError(f"expected {Path(path).name} to be a tokenizers JSON file, got: {e}") from None
        # padding and truncation are done here, so a tokenizer.json with its own settings cannot disagree
        tok.no_padding()
        tok.no_truncation()
        self._tok = tok
        self._lock = threading.Lock()  # Tokenizer.encode_batch is not documented as thread-safe
        self.max_length = max_length
        self.pad_id = int(pad_id)

    def encode(self, phrases: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``phrases`` -> (``input_ids`` int64 ``[Q, L]``, ``attention_mask`` int64 ``[Q, L]``)."""
        with self._lock:
            encodings = self._tok.encode_batch(list(phrases))
        L = self.max_length
        ids = np.full((len(phrases), L), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(phrases), L), dtype=np.int64)
        for i, (phrase, enc) in enumerate(zip(phrases, encodings)):
            row = list(enc.ids)
            if len(row) > L:
                warnings.warn(
                    f"phrase {phrase[:40]!r} has {len(row)} tokens, more than the text encoder's {L}; "
                    f"it was truncated", PhraseTruncatedWarning, stacklevel=4)
                row = row[: L - 1] + row[-1:]
            ids[i, : len(row)] = row
            mask[i, : len(row)] = 1
        return ids, mask
