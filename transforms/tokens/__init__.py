"""Tokens: the SentencePiece tokenizer, encoding, and the token shard format."""
