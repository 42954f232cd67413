"""Text units (lines, paragraphs, words, n-grams) and the word tokenizers the heuristics count with."""
