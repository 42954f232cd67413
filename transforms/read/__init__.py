"""Reading archives: record boundaries, HTTP decoding, text decoding, Page records, and main-text extraction."""
