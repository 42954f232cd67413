"""The document steps between extraction and the corpus: URL filter, language ID, quality and repetition rules,
line corrections, spam, perplexity, classifier, PII and script conversion."""
