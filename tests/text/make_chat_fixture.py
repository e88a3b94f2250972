#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Writes chat-expected.json: prompts rendered by transformers'
apply_chat_template with the Qwen3 chat template of the real
tokenizer_config.json, for omni_chat_build to reproduce. Development tool
only (needs transformers).

usage: make_chat_fixture.py [qwen3-tokenizer dir]
  default: $OMNI_SHARED_DIR/data/qwen3-tokenizer
"""
import json
import os
import sys

import transformers
from transformers import AutoTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))

THINK = "<think>\nLet me think.\nStep two.\n</think>\n\nThe answer is 4."
CONVERSATIONS = {
    "user": [
        {"role": "user", "content": "Hello!"},
    ],
    "system-user": [
        {"role": "system", "content": "You are a translator."},
        {"role": "user", "content": "Translate: Guten Morgen"},
    ],
    "multi-turn-think-stripped": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": THINK},
        {"role": "user", "content": "And 3+3?"},
    ],
    "multi-turn-plain": [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "Tell me a joke."},
    ],
    "last-assistant-think": [
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": THINK},
    ],
    "last-assistant-plain": [
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "\n\n4"},
    ],
    "think-variants": [
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "<think>\n\n</think>\n\nempty reasoning"},
        {"role": "user", "content": "q2"},
        {"role": "assistant", "content": "<think>a</think>b</think>\n\nc"},
        {"role": "user", "content": "q3"},
        {"role": "assistant", "content": "no open tag\n</think>\nanswer"},
    ],
    "tools": [
        {"role": "user", "content": "What is the weather?"},
        {"role": "assistant", "content": "<think>\nneed a tool\n</think>\n\nLet me check."},
        {"role": "tool", "content": "{\"temp\": 21}"},
        {"role": "tool", "content": "{\"sky\": \"clear\"}"},
        {"role": "assistant", "content": "<think>\ngot it\n</think>\n\nIt is 21 and clear."},
        {"role": "user", "content": "<tool_response>\nlate\n</tool_response>"},
    ],
    "second-system": [
        {"role": "user", "content": "Hi"},
        {"role": "system", "content": "Switch to French."},
        {"role": "user", "content": "Bonjour"},
    ],
    "unicode": [
        {"role": "system", "content": "Réponds en 日本語 😀"},
        {"role": "user", "content": "<|im_start|> is literal\nline two\n"},
    ],
}


def main():
    shared = os.environ.get("OMNI_SHARED_DIR", os.path.join(HERE, "..", "..", "..", "shared"))
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(shared, "data", "qwen3-tokenizer")
    tok = AutoTokenizer.from_pretrained(path)
    cases = []
    for name, msgs in CONVERSATIONS.items():
        for gen in (True, False):
            for thinking in ("disabled", "enabled"):
                text = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=gen,
                                               enable_thinking=(thinking == "enabled"))
                cases.append({"name": name, "messages": msgs, "add_generation_prompt": gen,
                              "thinking": thinking, "expected": text})
    with open(os.path.join(HERE, "chat-expected.json"), "w", encoding="utf-8") as f:
        f.write("{\n")
        f.write(' "generator": "tests/text/make_chat_fixture.py",\n')
        f.write(' "transformers_version": %s,\n' % json.dumps(transformers.__version__))
        f.write(' "cases": [\n')
        f.write(",\n".join("  " + json.dumps(c, ensure_ascii=False) for c in cases))
        f.write("\n ]\n}\n")
    print("%d cases, transformers %s" % (len(cases), transformers.__version__))


if __name__ == "__main__":
    main()
