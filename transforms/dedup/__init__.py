"""Deduplication: MinHash LSH, exact substrings and URLs, their connected components, and the Beam chain."""
