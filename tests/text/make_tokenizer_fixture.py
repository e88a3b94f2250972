#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Writes corpus-ids.json: the ids Hugging Face `tokenizers` gives each string
of corpus.json with the real Qwen3 tokenizer.json (add_special_tokens=False),
its NFC form as the tokenizer's normalizer computes it, and decode() with and
without skip_special_tokens. Development tool only (needs `tokenizers`).

usage: make_tokenizer_fixture.py [tokenizer.json]
  default: $OMNI_SHARED_DIR/data/qwen3-tokenizer/tokenizer.json
"""
import hashlib
import json
import os
import sys

import tokenizers
from tokenizers import AddedToken, Tokenizer

HERE = os.path.dirname(os.path.abspath(__file__))


# Added tokens with every flag tokenizers knows, given to the C side through
# a tokenizer_config.json added_tokens_decoder. "ony" is already in the vocab
# (it becomes an added token with its vocab id); "cafe\u0301" is NFD and
# normalized, so its NFC form is what matches.
FLAG_TOKENS = [
    dict(content="<mask>", lstrip=True, rstrip=True, single_word=False, normalized=False, special=False),
    dict(content="ony", lstrip=False, rstrip=False, single_word=True, normalized=False, special=False),
    dict(content="cafe\u0301", lstrip=False, rstrip=False, single_word=False, normalized=True, special=False),
    dict(content="[L]", lstrip=True, rstrip=False, single_word=False, normalized=True, special=True),
]
FLAG_TEXTS = [
    "Hi <mask> there\t<mask>\t<mask>\u2000x",
    "<mask><mask>  <mask>",
    "Anthony ony pony ony, ony_ ony1 \u00e9ony ony",
    "un caf\u00e9 and cafe\u0301s",
    "a  [L] b[L]\u3000[L]",
    "<|im_start|><mask> [L]<|im_end|>",
]

# Byte strings for the errors="replace" decoder: truncated, overlong,
# surrogate, out-of-range and stray continuation bytes.
REPLACE_BYTES = [
    b"\xe2\x82A", b"\xf0\x80\x80\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"\xc1\xbf",
    b"\x80\x80abc", b"\xff\xfe", b"\xf0\x9f\x98", b"\xf0\x9f\x98\x80\xf0", b"a\xe2", b"\xe0\x9f\x80",
    b"\xf5\x80\x80\x80", b"\xc2", b"\xc2\xc2\xa9", b"\xe2\x82\xac\xe2\x82", b"\xf1\x80\x80\xe1\x80\xc2",
    b"\xed\x9f\xbf\xed\xa0", b"\xf4\x8f\xbf\xbf", b"\xef\xbb\xbf\xfe",
]


def byte_ids(tok, data):
    """The single-byte token of each byte (GPT-2 bytes_to_unicode)."""
    table = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    extra = 0
    chars = {}
    for b in range(256):
        if b in table:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return [tok.token_to_id(chars[b]) for b in data]


def flag_fixture(path):
    tok = Tokenizer.from_file(path)
    tok.add_tokens([AddedToken(**t) for t in FLAG_TOKENS])
    tokens = []
    for t in FLAG_TOKENS:
        tokens.append(dict(t, id=tok.token_to_id(t["content"])))
    cases = [{"text": x, "ids": tok.encode(x, add_special_tokens=False).ids} for x in FLAG_TEXTS]
    return tokens, cases


def replace_fixture(tok):
    cases = []
    for data in REPLACE_BYTES:
        ids = byte_ids(tok, data)
        expected = data.decode("utf-8", errors="replace")
        if tok.decode(ids) != expected:
            sys.exit("tokenizers decode differs from Python's replace for %r" % data)
        cases.append({"ids": ids, "expected": expected})
    return cases


def main():
    if len(sys.argv) > 1:
        path = sys.argv[1]
    else:
        shared = os.environ.get("OMNI_SHARED_DIR", os.path.join(HERE, "..", "..", "..", "shared"))
        path = os.path.join(shared, "data", "qwen3-tokenizer", "tokenizer.json")
    tok = Tokenizer.from_file(path)
    with open(path, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    with open(os.path.join(HERE, "corpus.json"), encoding="utf-8") as f:
        corpus = json.load(f)
    flag_tokens, flag_cases = flag_fixture(path)
    cases = []
    for text in corpus:
        ids = tok.encode(text, add_special_tokens=False).ids
        nfc = tok.normalizer.normalize_str(text)
        decoded = tok.decode(ids, skip_special_tokens=False)
        if decoded != nfc:
            sys.exit("decode(encode(x)) != NFC(x) in tokenizers itself for %r" % text)
        case = {
            "text": text,
            "ids": ids,
            "nfc": nfc,
            "decoded_skip_special": tok.decode(ids, skip_special_tokens=True),
        }
        if "\0" in text:
            # json-glib strings stop at NUL: give the C side the bytes too
            case["text_hex"] = text.encode("utf-8").hex()
            case["nfc_hex"] = nfc.encode("utf-8").hex()
        cases.append(case)
    head = {
        "generator": "tests/text/make_tokenizer_fixture.py",
        "tokenizers_version": tokenizers.__version__,
        "tokenizer_json_sha256": sha,
        "flag_tokens": flag_tokens,
        "flag_cases": flag_cases,
        "replace_cases": replace_fixture(tok),
    }
    # one case per line keeps the fixture readable in diffs
    with open(os.path.join(HERE, "corpus-ids.json"), "w", encoding="utf-8") as f:
        f.write("{\n")
        for key, value in head.items():
            f.write(" %s: %s,\n" % (json.dumps(key), json.dumps(value, ensure_ascii=False)))
        f.write(' "cases": [\n')
        f.write(",\n".join("  " + json.dumps(c, ensure_ascii=False) for c in cases))
        f.write("\n ]\n}\n")
    print("%d cases, tokenizers %s" % (len(cases), tokenizers.__version__))


if __name__ == "__main__":
    main()
