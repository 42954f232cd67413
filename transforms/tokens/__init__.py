"""Tokens: the tokenizer's training (training.py), encoding with EOD and FIM (encoding.py), the token shard format
and manifest (shards.py), all pure; the Beam steps that read, tokenize and write (ptransforms.py)."""
