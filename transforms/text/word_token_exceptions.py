"""The special cases of spaCy's English tokenizer, restated as the rules that generate them.

A special case is a whole string with a fixed split: contractions ("don't" -> "do" "n't", "cannot" -> "can"
"not"), abbreviations kept whole ("Mr.", "e.g.", "Ph.D."), times ("5pm" -> "5" "pm") and emoticons.
Each apostrophe form also exists with the typographic apostrophe ’. `bench/word_tokens_vs_spacy.py`
checks this table entry by entry against `spacy.blank("en").tokenizer.rules`.
"""

from __future__ import annotations


def _cased(word: str) -> tuple[str, str]:
    return word, word.title()


def _contractions() -> dict[str, tuple[str, ...]]:
    table: dict[str, tuple[str, ...]] = {}

    def add(head: str, *tails: str) -> None:
        table[head + "".join(tails)] = (head, *tails)

    for head in _cased("i"):
        add(head, "'m"), add(head, "m"), add(head, "'m", "a"), add(head, "m", "a")
    will_would = (("'ll",), ("ll",), ("'ll", "'ve"), ("ll", "ve"), ("'d",), ("d",), ("'d", "'ve"), ("d", "ve"))
    for pronoun in ("i", "you", "he", "she", "it", "we", "they"):
        for head in _cased(pronoun):
            for tails in will_would:
                add(head, *tails)
            if pronoun in ("i", "you", "we", "they"):
                add(head, "'ve"), add(head, "ve")
            if pronoun in ("you", "we", "they"):
                add(head, "'re"), add(head, "re")
            if pronoun in ("he", "she", "it"):
                add(head, "'s"), add(head, "s")
    for word in ("who", "what", "when", "where", "why", "how", "there", "that", "this", "these", "those"):
        for head in _cased(word):
            if word not in ("these", "those"):
                add(head, "'s"), add(head, "s")
            for tails in will_would:
                add(head, *tails)
            if word not in ("that", "this"):
                add(head, "'re"), add(head, "re"), add(head, "'ve"), add(head, "ve")
    for verb in ("ca", "could", "do", "does", "did", "had", "may", "might", "must", "need", "ought", "sha",
                 "should", "wo", "would"):
        for head in _cased(verb):
            add(head, "n't"), add(head, "nt"), add(head, "n't", "'ve"), add(head, "nt", "ve")
    for verb in ("could", "might", "must", "should", "would"):
        for head in _cased(verb):
            add(head, "'ve"), add(head, "ve")
    for verb in ("ai", "are", "is", "was", "were", "have", "has", "dare"):
        for head in _cased(verb):
            add(head, "n't"), add(head, "nt")
    for hour in range(1, 13):
        for period in ("a.m.", "am", "p.m.", "pm"):
            add(str(hour), period)
    for pieces in (("y'", "all"), ("y", "all"), ("how", "'d", "'y"), ("How", "'d", "'y"), ("not", "'ve"),
                   ("not", "ve"), ("Not", "'ve"), ("Not", "ve"), ("can", "not"), ("Can", "not"), ("gon", "na"),
                   ("Gon", "na"), ("got", "ta"), ("Got", "ta"), ("let", "'s"), ("Let", "'s"), ("c'm", "on"),
                   ("C'm", "on")):
        add(*pieces)
    return table


# Strings spaCy keeps as one token although its affix rules would split them.
_WHOLE = (
    "'s 'S ‘s ‘S and/or w/o 're 'Cause 'cause 'cos 'Cos 'coz 'Coz 'cuz 'Cuz 'bout ma'am Ma'am o'clock O'clock "
    "'d a.m. Adm. Bros. co. Co. Corp. D.C. Dr. e.g. E.g. E.G. Gen. Gov. i.e. I.e. I.E. Inc. Jr. Ltd. Md. Messrs. "
    "Mo. Mont. Mr. Mrs. Ms. p.m. Ph.D. Prof. Rep. Rev. Sen. St. vs. v.s. Mt. "
    # US states and months
    "Ak. Ala. Apr. Ariz. Ark. Aug. Calif. Colo. Conn. Dec. Del. Feb. Fla. Ga. Ia. Id. Ill. Ind. Jan. Jul. Jun. "
    "Kan. Kans. Ky. La. Mar. Mass. Mich. Minn. Miss. N.C. N.D. N.H. N.J. N.M. N.Y. Neb. Nebr. Nev. Nov. Oct. "
    "Okla. Ore. Pa. S.C. Sep. Sept. Tenn. Va. Wash. Wis. "
    # language-independent ones
    "' \\\") <space> '' C++ ä. ö. ü. \\t \\n — "
    + " ".join(f"{letter}." for letter in "abcdefghijklmnopqrstuvwxyz")
)
_DROPPED_G = ("doin", "goin", "nothin", "nuthin", "ol", "somethin", "lovin", "havin")
_LEADING_APOSTROPHE = ("em", "ll", "nuff")
_EMOTICONS = (
    r":) :-) :)) :-)) :))) :-))) (: (-: =) (= :] :-] [: [-: [= =] :o) (o: :} :-} 8) 8-) (-8 ;) ;-) (; (-; :( :-( "
    r":(( :-(( :((( :-((( ): )-: =( >:( :') :'-) :'( :'-( :/ :-/ =/ =| :| :-| ]= =[ :1 :P :-P :p :-p :O :-O :o "
    r":-o :0 :-0 :() >:o :* :-* :3 :-3 =3 :> :-> :X :-X :x :-x :D :-D ;D ;-D =D xD XD xDD XDD 8D 8-D ^_^ ^__^ "
    r"^___^ >.< >.> <.< ._. ;_; -_- -__- v.v V.V v_v V_V o_o o_O O_o O_O 0_o o_0 0_0 o.O O.o O.O o.o 0.0 o.0 0.o "
    r"@_@ <3 <33 <333 </3 (^_^) (-_-) (._.) (>_<) (*_*) (¬_¬) ಠ_ಠ ಠ︵ಠ (ಠ_ಠ) ¯\(ツ)/¯ (╯°□°）╯︵┻━┻ ><(((*>"
)
# Words that look like contractions but are ordinary words ("ill", "its", "well").
_NOT_CONTRACTIONS = ("Ill", "ill", "Its", "its", "Hell", "hell", "Shell", "shell", "Shed", "shed", "were", "Were",
                     "Well", "well", "Whore", "whore")


def build_exceptions() -> dict[str, tuple[str, ...]]:
    table = {whole: (whole,) for whole in (*_EMOTICONS.split(), " ", "\t", "\n", "\xa0")}
    table.update({f"°{unit}.": ("°", unit, ".") for unit in "cfkCFK"})
    english = _contractions()
    english.update((whole, (whole,)) for whole in _WHOLE.split())
    for word in _DROPPED_G:
        for head in _cased(word):
            english[head] = (head,)
            english[head + "'"] = (head + "'",)
    for word in _LEADING_APOSTROPHE:
        english[word] = (word,)
        english["'" + word] = ("'" + word,)
    for word in _NOT_CONTRACTIONS:
        english.pop(word, None)
    table.update(english)
    typographic = {key.replace("'", "’"): tuple(t.replace("'", "’") for t in value)
                   for key, value in table.items() if "'" in key}
    table.update(typographic)
    return table


EXCEPTIONS: dict[str, tuple[str, ...]] = build_exceptions()
