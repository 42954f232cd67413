"""Encoding, the pure half: the tokenizer's special pieces, exact encoding with an end-of-document token,
fill-in-the-middle, and the validation split. No Beam here."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable
from dataclasses import dataclass

import sentencepiece as spm

# Control symbols, not user-defined symbols: SentencePiece never produces a control id from text, so a web page
# that contains the literal string "</s>" or "<fim_prefix>" is tokenized as ordinary characters and cannot forge
# a document boundary or a FIM sentinel. The ids are inserted by the code below, never parsed.
UNK, BOS, EOD, PAD = "<unk>", "<s>", "</s>", "<pad>"
FIM_PREFIX, FIM_MIDDLE, FIM_SUFFIX = "<fim_prefix>", "<fim_middle>", "<fim_suffix>"
FIM_PIECES = (FIM_PREFIX, FIM_MIDDLE, FIM_SUFFIX)

# SentencePiece escapes a space as U+2581 and decodes every U+2581 back to a space, so a literal U+2581 in the
# text is written as its UTF-8 bytes through the byte-fallback pieces, which decode to the character itself.
SPACE_MARK = "\u2581"
SPACE_MARK_BYTES = tuple(f"<0x{b:02X}>" for b in SPACE_MARK.encode())


class TokenizerError(ValueError):
    """A tokenizer that cannot be used as asked (vocabulary too large for the dtype, missing special pieces)."""


def keyed_hash(text: str, purpose: str) -> int:
    """A stable 64-bit hash of `text`, independent for each `purpose` (so the validation split, FIM and the training
    sample do not pick correlated documents)."""
    digest = hashlib.blake2b(text.encode(), digest_size=8, key=purpose.encode()).digest()
    return int.from_bytes(digest, "big")


class DocumentTokenizer:
    """A SentencePiece model that encodes text exactly (decode(encode(text)) == text) and documents with EOD."""

    def __init__(self, model_proto: bytes):
        self.processor = spm.SentencePieceProcessor(model_proto=model_proto)
        self.vocab_size = self.processor.vocab_size()
        self.eod_id = self.processor.eos_id()
        if self.eod_id < 0:
            raise TokenizerError(f"the tokenizer has no end-of-document piece {EOD}; train it with train-tokenizer")
        self._space_mark_ids = [self.processor.piece_to_id(piece) for piece in SPACE_MARK_BYTES]
        self._fim_ids = tuple(self.special_id(piece) for piece in FIM_PIECES)

    def special_id(self, piece: str) -> int | None:
        """The id of a control piece, or None when the model lacks it."""
        found = self.processor.piece_to_id(piece)
        return found if self.processor.is_control(found) else None

    def special_ids(self) -> dict[str, int | None]:
        """The ids of every control piece ccrefine uses but <unk>, as training.json and the manifest record them."""
        return {piece: self.special_id(piece) for piece in (BOS, EOD, PAD, *FIM_PIECES)}

    def fim_ids(self) -> tuple[int, int, int]:
        """(prefix, middle, suffix) sentinel ids; a clear error when the model was trained without them."""
        if None in self._fim_ids:
            raise TokenizerError(f"the tokenizer lacks the FIM pieces {', '.join(FIM_PIECES)}; retrain it with "
                                 "train-tokenizer or set the FIM rate to 0")
        return self._fim_ids

    def encode(self, text: str) -> list[int]:
        if SPACE_MARK not in text:
            return self.processor.encode(text)
        ids: list[int] = []
        for index, part in enumerate(text.split(SPACE_MARK)):
            if index:
                ids.extend(self._space_mark_ids)
            ids.extend(self.processor.encode(part))
        return ids

    def decode(self, ids) -> str:
        return self.processor.decode([int(i) for i in ids])


def tokens_per_character(tokenizer: DocumentTokenizer, lines: Iterable[str]) -> float:
    """Tokens per character over `lines` (each encoded on its own, newlines not counted): lower is better."""
    tokens = characters = 0
    for line in lines:
        if line:
            tokens += len(tokenizer.encode(line))
            characters += len(line)
    if not characters:
        raise ValueError("no text to measure tokens per character on")
    return tokens / characters


# ---- the validation split ----------------------------------------------------------------------------------------

SPLIT_RULE = "val when int(blake2b(id, digest_size=8, key=b'validation'), big-endian) < val_fraction * 2**64"


def is_validation(doc_id: str, val_fraction: float) -> bool:
    """Held-out membership from a hash of the id alone: stable across reruns, shard counts and runners."""
    return keyed_hash(doc_id, "validation") < val_fraction * 2**64


# ---- fill in the middle (Bavarian et al. 2022) -------------------------------------------------------------------


@dataclass(frozen=True)
class FimOptions:
    rate: float = 0.0  # fraction of documents rearranged; the paper trains with 0.5
    seed: int = 0

    def __post_init__(self):
        if not 0 <= self.rate <= 1:
            raise ValueError(f"rate must be in [0, 1], got {self.rate}")


def fim_cut_points(doc_id: str, length: int, options: FimOptions) -> tuple[int, int] | None:
    """Two character positions splitting a document into prefix / middle / suffix, or None when the document is
    left as it is. Drawn from a generator seeded by the id, so a document is transformed the same way every run."""
    rng = random.Random(keyed_hash(doc_id, f"fim{options.seed}"))
    if rng.random() >= options.rate:
        return None
    start, end = sorted((rng.randint(0, length), rng.randint(0, length)))
    return start, end


def encode_document(tokenizer: DocumentTokenizer, doc_id: str, text: str, fim: FimOptions | None = None) -> list[int]:
    """The tokens of one document followed by EOD; with FIM, possibly rearranged prefix-suffix-middle (PSM):
    <fim_prefix> prefix <fim_suffix> suffix <fim_middle> middle </s>. The three parts are encoded separately, as in
    the paper, so the original text is exactly decode(prefix) + decode(middle) + decode(suffix)."""
    cut = fim_cut_points(doc_id, len(text), fim) if fim and fim.rate > 0 else None
    if cut is None:
        return tokenizer.encode(text) + [tokenizer.eod_id]
    prefix_id, middle_id, suffix_id = tokenizer.fim_ids()
    start, end = cut
    return ([prefix_id] + tokenizer.encode(text[:start]) + [suffix_id] + tokenizer.encode(text[end:])
            + [middle_id] + tokenizer.encode(text[start:end]) + [tokenizer.eod_id])


def undo_fim(tokens: list[int], fim_ids: tuple[int, int, int]) -> tuple[list[int], list[int], list[int]]:
    """(prefix, middle, suffix) tokens of a PSM document (EOD removed); raises ValueError if it is not one."""
    prefix_id, middle_id, suffix_id = fim_ids
    body = list(tokens[:-1])
    if not body or body[0] != prefix_id or body.count(suffix_id) != 1 or body.count(middle_id) != 1:
        raise ValueError("not a PSM document: expected <fim_prefix> ... <fim_suffix> ... <fim_middle> ...")
    suffix_at, middle_at = body.index(suffix_id), body.index(middle_id)
    if suffix_at > middle_at:
        raise ValueError("not a PSM document: <fim_middle> comes before <fim_suffix>")
    return body[1:suffix_at], body[middle_at + 1 :], body[suffix_at + 1 : middle_at]
