"""spaCy-compatible English tokens without spaCy: expected tokens are what `spacy.blank("en")` (spaCy 3.8) gives,
whitespace tokens dropped, as observed on each string."""

from __future__ import annotations

import pytest
from ccrefine.transforms.text.counting import FINEWEB
from ccrefine.transforms.text.tokenizers import JIEBA
from ccrefine.transforms.text.units import TextUnits, units_of
from ccrefine.transforms.text.word_token_exceptions import EXCEPTIONS
from ccrefine.transforms.text.word_tokens import sentence_count, word_tokens


@pytest.mark.parametrize(
    "text, tokens",
    [
        ("Don't stop, I'm sure we can't.", ["Do", "n't", "stop", ",", "I", "'m", "sure", "we", "ca", "n't", "."]),
        ("It cannot be gonna happen", ["It", "can", "not", "be", "gon", "na", "happen"]),
        ("dont wont cant Im", ["do", "nt", "wo", "nt", "ca", "nt", "I", "m"]),
        ('"Quoted," she said.', ['"', "Quoted", ",", '"', "she", "said", "."]),
        ("“Curly quotes” and ‘single’", ["“", "Curly", "quotes", "”", "and", "‘", "single", "’"]),
        ("The U.S. and the U.K.'s rules", ["The", "U.S.", "and", "the", "U.K.", "'s", "rules"]),
        ("John's and Ross’s O'Neill's", ["John", "'s", "and", "Ross", "’s", "O'Neill", "'s"]),
        ("e.g. this, i.e. that (e.g.)", ["e.g.", "this", ",", "i.e.", "that", "(", "e.g.", ")"]),
        ("Mr. Smith met Dr.Who", ["Mr.", "Smith", "met", "Dr.", "Who"]),  # "Dr" "." merged back: a special case
        ("Ph.D. vs. 'cause y'all", ["Ph.D.", "vs.", "'cause", "y'", "all"]),
        ("well-known 3-4 A--B a/b 1/2 km/h", ["well", "-", "known", "3", "-", "4", "A", "--", "B", "a", "/", "b",
                                               "1/2", "km", "/", "h"]),
        ("10km at 5pm cost $5.00 or US$10 (50%) £5m",
         ["10", "km", "at", "5", "pm", "cost", "$", "5.00", "or", "US$", "10", "(", "50", "%", ")", "£", "5", "m"]),
        ("See http://example.com/a-b. Mail user@example.com!",
         ["See", "http://example.com/a-b", ".", "Mail", "user@example.com", "!"]),
        ("www.example.org/path?q=1&r=2 hello.world email@x.co.uk.",
         ["www.example.org/path?q=1&r=2", "hello.world", "email@x.co.uk", "."]),
        ("end.The wait... So...what", ["end", ".", "The", "wait", "...", "So", "...", "what"]),
        ("Yes!!! Really?! [1] #tag ##", ["Yes", "!", "!", "!", "Really", "?", "!", "[", "1", "]", "#", "tag", "#",
                                         "#"]),
        ("Nice :) x:) <3 C++ and/or 1,000 a,b 2+2",
         ["Nice", ":)", "x", ":)", "<3", "C++", "and/or", "1,000", "a", ",", "b", "2", "+", "2"]),
        ("It was 30°C. Hot", ["It", "was", "30", "°", "C", ".", "Hot"]),
        ("--- * • · — –", ["---", "*", "•", "·", "—", "–"]),
        ("emoji😀x and 🥱x", ["emoji", "😀", "x", "and", "🥱x"]),  # 🥱 is newer than spaCy's symbol list
        ("rock'n'roll 3:30pm i.e.,", ["rock'n'roll", "3:30pm", "i.e.", ","]),
        ("tab\there  two spaces\n\nnew paragraph", ["tab", "here", "two", "spaces", "new", "paragraph"]),
    ],
)
def test_tokens_match_spacy(text, tokens):
    assert word_tokens(text) == tokens


@pytest.mark.parametrize(
    "line, sentences",
    [
        ("Hello world. This is two.", 2),
        ("Dr. Smith arrived. He sat.", 2),  # "Dr." is one token, not a sentence end
        ("Wait... what?! Yes.", 2),  # "..." is not a sentence-final token; "?" "!" end one sentence
        ("One.  Two", 2),
        ("No end here", 1),
        ("First!Second", 1),  # one chunk, "First!Second" is not split
        ("Done . . . really", 2),
        ("", 0),
    ],
)
def test_sentence_counts_match_spacy_sentencizer(line, sentences):
    assert sentence_count(line) == sentences


def test_contraction_table_has_both_apostrophes():
    assert EXCEPTIONS["don't"] == ("do", "n't") and EXCEPTIONS["don’t"] == ("do", "n’t")
    assert "its" not in EXCEPTIONS and "well" not in EXCEPTIONS  # ordinary words, not "it s" / "we ll"


def test_units_share_one_tokenisation():
    text = "The harbour, quiet at last."
    assert units_of(text, "en") is units_of(text, "en")
    assert FINEWEB.tokens(TextUnits(text, "en")) == ["The", "harbour", ",", "quiet", "at", "last", "."]
    chinese = TextUnits("茶农 们 一年", "zh")
    assert FINEWEB.tokens(chinese) == chinese.tokens(JIEBA)
