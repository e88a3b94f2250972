#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Regenerate tests/golden/qwen3-dense/translate.json (development tool only).

For a few translation requests (plain; glossary + domain; memory + context;
auto source) it builds the prompt of spec section 6.2 (the same text as
ext/omnicore/text/translate.c, checked against the snapshot's own chat
template with enable_thinking=False), runs transformers' greedy generation on
the tiny tests/golden/qwen3-dense snapshot (max_new_tokens 16, stopping at the
generation_config eos ids), and records the prompt, its ids, the new ids, the
raw decoded answer and the cleaned translation. Needs torch + transformers;
CI never runs it.

    python3 tests/golden/make_translate_golden.py
"""

import json
import os

import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL = os.path.join(HERE, "qwen3-dense")
OUT = os.path.join(MODEL, "translate.json")
MAX_NEW_TOKENS = 16

# English names of the languages the specs below use (spec 6.1).
NAMES = {"en": "English", "de": "German", "fr": "French", "ja": "Japanese",
         "zh-TW": "Traditional Chinese"}

SPECS = [
    {"name": "plain", "text": "Good morning, everyone.", "source_language": "en",
     "target_language": "de"},
    {"name": "glossary-domain", "text": "The keeper saves the penalty.",
     "source_language": "en", "target_language": "fr", "domain": "sports commentary",
     "terms": [["keeper", "gardien"], ["penalty", "penalty"]]},
    {"name": "memory-context", "text": "See you tomorrow.", "source_language": "English",
     "target_language": "ja", "memory": [["Thank you.", "ありがとう。"]],
     "context": [["Hello.", "こんにちは。"], ["How are you?", "お元気ですか?"]]},
    {"name": "auto-source", "text": "¿Dónde está la estación?", "source_language": "auto",
     "target_language": "zh-TW"},
]


def name_of(lang):
    return {"English": "English"}.get(lang) or NAMES[lang]


def build_user(spec):
    """The user message of spec 6.2, as omni_translate_build_user makes it."""
    src = spec.get("source_language")
    auto = src in (None, "", "auto")
    tgt = name_of(spec["target_language"])
    if auto:
        s = "Translate the following text into %s." % tgt
    else:
        s = "Translate the following text from %s into %s." % (name_of(src), tgt)
    s += " Output only the translation, without explanations.\n"
    if spec.get("domain"):
        s += "Domain and style: %s\n" % spec["domain"]
    if spec.get("terms"):
        s += "Use these term translations exactly:\n"
        s += "".join("%s \u2192 %s\n" % (a, b) for a, b in spec["terms"])
    pairs = spec.get("memory", []) + spec.get("context", [])
    if pairs:
        label = "Source" if auto else name_of(src)
        s += "Reference translations (follow their terminology and phrasing):\n"
        s += "".join("%s: %s\n%s: %s\n" % (label, a, tgt, b) for a, b in pairs)
    return s + "Text:\n" + spec["text"]


def build_prompt(user):
    return ("<|im_start|>user\n" + user + "<|im_end|>\n<|im_start|>assistant\n"
            "<think>\n\n</think>\n\n")


QUOTES = [('"', '"'), ("\u201c", "\u201d"), ("\u00ab", "\u00bb"), ("\u300c", "\u300d"),
          ("\u300e", "\u300f")]


def strip_label(s, label):
    n = len(label)
    if len(s) <= n or s[:n].lower() != label.lower():
        return None
    if s[n] == ":":
        return s[n + 1:]
    if s[n] == "\uff1a":
        return s[n + 1:]
    return None


def clean(raw, target):
    """omni_translate_clean: spaces, an empty think block, a label, one pair of quotes."""
    s = raw.strip()
    if s.startswith("<think>") and "</think>" in s:
        s = s[s.index("</think>") + len("</think>"):]
    s = s.strip()
    for label in ("Translation", target):
        r = strip_label(s, label)
        if r is not None:
            s = r.strip()
            break
    for o, c in QUOTES:
        if len(s) >= len(o) + len(c) and s.startswith(o) and s.endswith(c):
            inner = s[len(o):len(s) - len(c)]
            if c not in inner:
                s = inner
                break
    return s.strip()


def main():
    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(MODEL)
    model = AutoModelForCausalLM.from_pretrained(MODEL, dtype=torch.float32)
    model.eval()
    eos = model.generation_config.eos_token_id
    cases = []
    for spec in SPECS:
        user = build_user(spec)
        prompt = build_prompt(user)
        ref = tok.apply_chat_template([{"role": "user", "content": user}], tokenize=False,
                                      add_generation_prompt=True, enable_thinking=False)
        assert ref == prompt, (ref, prompt)
        ids = tok(prompt, return_tensors="pt").input_ids
        with torch.no_grad():
            out = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                 max_new_tokens=MAX_NEW_TOKENS, eos_token_id=eos,
                                 pad_token_id=tok.pad_token_id)
        new = out[0, ids.shape[1]:].tolist()
        raw = tok.decode(new, skip_special_tokens=True)
        cases.append({"spec": spec, "prompt": prompt, "prompt_ids": ids[0].tolist(),
                      "output_ids": new, "raw": raw,
                      "text": clean(raw, name_of(spec["target_language"]))})
        print("%-16s %3d prompt ids, %2d new: %r" % (spec["name"], ids.shape[1], len(new),
                                                   cases[-1]["text"]))
    doc = {"versions": {"transformers": transformers.__version__,
                        "torch": torch.__version__.split("+")[0]},
           "max_new_tokens": MAX_NEW_TOKENS, "eos_token_id": eos, "cases": cases}
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
