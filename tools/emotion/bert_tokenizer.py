"""BERT WordPiece tokenizer, behaving exactly like Hugging Face's slow `BertTokenizer(do_lower_case=True)`.

The shipped model must see the same ids in training as the C++ engine and `transformers` give it at inference,
so this follows transformers 4.36's tokenization_bert.py step by step (special-token split, clean, CJK spacing,
NFC, whitespace split, lower + accent strip, punctuation split, greedy longest-match WordPiece).
"""
import re
import unicodedata

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
MAX_CHARS_PER_WORD = 100


def load_vocab(path):
    vocab = {}
    with open(path, encoding="utf-8") as f:
        for index, line in enumerate(f):
            vocab[line.rstrip("\n")] = index
    return vocab


def _is_whitespace(ch):
    if ch in (" ", "\t", "\n", "\r"):
        return True
    return unicodedata.category(ch) == "Zs"


def _is_control(ch):
    if ch in ("\t", "\n", "\r"):
        return False
    return unicodedata.category(ch).startswith("C")


def _is_punctuation(ch):
    cp = ord(ch)
    # BERT treats every non-alphanumeric ASCII character as punctuation, even `$`, `^`, `` ` `` (not P* in Unicode).
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def _clean(text):
    out = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or _is_control(ch):
            continue
        out.append(" " if _is_whitespace(ch) else ch)
    return "".join(out)


def _space_cjk(text):
    return "".join(f" {ch} " if _is_cjk(ord(ch)) else ch for ch in text)


def _strip_accents(text):
    return "".join(ch for ch in unicodedata.normalize("NFD", text) if unicodedata.category(ch) != "Mn")


def _split_punctuation(token):
    pieces, current = [], []
    for ch in token:
        if _is_punctuation(ch):
            if current:
                pieces.append("".join(current))
                current = []
            pieces.append(ch)
        else:
            current.append(ch)
    if current:
        pieces.append("".join(current))
    return pieces


class BertTokenizer:
    def __init__(self, vocab_path):
        self.vocab = load_vocab(vocab_path)
        missing = [t for t in SPECIAL_TOKENS if t not in self.vocab]
        if missing:
            raise ValueError(f"{vocab_path}: vocabulary lacks {', '.join(missing)}")
        self.pad_id = self.vocab["[PAD]"]
        self.unk_id = self.vocab["[UNK]"]
        self.cls_id = self.vocab["[CLS]"]
        self.sep_id = self.vocab["[SEP]"]
        self.mask_id = self.vocab["[MASK]"]
        # Longest first, so the alternation behaves like HF's longest-match trie.
        specials = sorted(SPECIAL_TOKENS, key=len, reverse=True)
        self._special_split = re.compile("(" + "|".join(re.escape(s) for s in specials) + ")")

    def _basic_tokens(self, text):
        text = unicodedata.normalize("NFC", _space_cjk(_clean(text)))
        tokens = []
        for word in text.split():
            if word not in SPECIAL_TOKENS:
                word = _strip_accents(word.lower())
                tokens.extend(_split_punctuation(word))
            else:
                tokens.append(word)
        return tokens

    def _wordpiece(self, word):
        if len(word) > MAX_CHARS_PER_WORD:
            return [self.unk_id]
        ids, start = [], 0
        while start < len(word):
            end, found = len(word), None
            while start < end:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    found = self.vocab[piece]
                    break
                end -= 1
            if found is None:
                return [self.unk_id]
            ids.append(found)
            start = end
        return ids

    def tokenize_ids(self, text):
        """Token ids without [CLS]/[SEP] and without truncation."""
        # HF lower-cases character by character before anything else (so a word-final capital sigma becomes σ,
        # not ς), leaving the special tokens' spelling alone.
        text = "".join(chunk if chunk in SPECIAL_TOKENS else "".join(ch.lower() for ch in chunk)
                       for chunk in self._special_split.split(text))
        ids = []
        for chunk in self._special_split.split(text):
            if not chunk:
                continue
            if chunk in SPECIAL_TOKENS:
                ids.append(self.vocab[chunk])
                continue
            for word in self._basic_tokens(chunk):
                ids.extend([self.vocab[word]] if word in SPECIAL_TOKENS else self._wordpiece(word))
        return ids

    def encode(self, text, max_length=128):
        """[CLS] + tokens (truncated to fit) + [SEP], as `tokenizer(text, truncation=True, max_length=...)`."""
        ids = self.tokenize_ids(text)[: max_length - 2]
        return [self.cls_id] + ids + [self.sep_id]
