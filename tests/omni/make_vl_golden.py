#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Regenerate tests/omni/data/vl-golden.json (development tool only; CI never runs it).

Each case is the first frame of a videotestsrc pattern in I420, run through
omnivl itself with GST_OMNIVL_DUMP_DIR set: the element writes the exact RGB
it sends to the model (its GstVideoConverter output). Those pixels then go
through transformers' Qwen3-VL processor and model (tests/golden/qwen3-vl,
the Qwen3-Omni thinker for one case), greedy, MAX_TOKENS new tokens, and
the ids and text are stored. Deterministic: fixed patterns, sizes and
weights, greedy decoding, no sampling anywhere.

    python3 tests/omni/make_vl_golden.py BUILD_DIR
"""

import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import transformers
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "..", "golden")
sys.path.insert(0, GOLDEN)
import make_vision_golden as mvg  # noqa: E402
import make_golden as mg  # noqa: E402

MAX_TOKENS = 8
PROMPT = "Describe this image."
# name, videotestsrc pattern, width, height, model
CASES = [("smpte", "smpte", 96, 64, "qwen3-vl"),
         ("ball", "ball", 64, 48, "qwen3-vl"),
         ("snow", "snow", 80, 60, "qwen3-vl"),
         # 50 * 3 bytes: RGB rows padded to 152, the stride path
         ("gradient-odd", "gradient", 50, 38, "qwen3-vl"),
         ("omni-smpte", "smpte", 96, 64, "qwen3-omni-thinker")]


def dump_frame(build, pattern, w, h, model):
    """The RGB omnivl sends for the first frame (H x W x 3 uint8)."""
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, GST_OMNIVL_DUMP_DIR=d,
                   GST_PLUGIN_PATH_1_0=os.path.join(build, "gst", "omni"),
                   GST_REGISTRY_1_0=os.path.join(d, "registry.bin"))
        pipe = (f"videotestsrc pattern={pattern} num-buffers=1 ! video/x-raw,format=I420,"
                f"width={w},height={h},framerate=10/1 ! omnivl name=v device=cpu max-tokens=1 "
                f"model={os.path.join(GOLDEN, model)} ! fakesink v.text_src ! fakesink")
        subprocess.run(["gst-launch-1.0", "-q"] + pipe.split(), env=env, check=True)
        name = f"look-0000-000-{w}x{h}.rgb"
        data = open(os.path.join(d, name), "rb").read()
    return np.frombuffer(data, dtype=np.uint8).reshape(h, w, 3)


def greedy(model, inputs):
    cfg = transformers.GenerationConfig(do_sample=False, max_new_tokens=MAX_TOKENS,
                                        eos_token_id=list(mg.EOS_IDS), pad_token_id=mg.PAD_ID,
                                        return_dict_in_generate=True, output_logits=True)
    n = inputs["input_ids"].shape[1]
    with torch.no_grad():
        out = model.generate(**inputs, generation_config=cfg)
    ids = out.sequences[0, n:].tolist()
    logits = torch.stack(out.logits)[:, 0, :].float()
    top = torch.topk(logits, 2, dim=-1).values
    return ids, float((top[:, 0] - top[:, 1]).min())


def vl_inputs(proc, rgb):
    rendered = proc.apply_chat_template(mvg.vl_messages("image", PROMPT), tokenize=False,
                                        add_generation_prompt=True)
    return dict(proc(text=[rendered], images=[Image.fromarray(rgb)], return_tensors="pt"))


def omni_inputs(tok, rgb):
    improc, _ = mvg.omni_processors()
    feats = improc(images=[Image.fromarray(rgb)], return_tensors="pt")
    n = int(feats["image_grid_thw"][0].prod()) // 4
    _, ids = mvg.omni_prompt(tok, "<|image_pad|>", n, PROMPT)
    return {"input_ids": torch.tensor([ids]),
            "attention_mask": torch.ones(1, len(ids), dtype=torch.long),
            "pixel_values": feats["pixel_values"], "image_grid_thw": feats["image_grid_thw"]}


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    build = os.path.abspath(sys.argv[1])
    from transformers import (AutoProcessor, AutoTokenizer, Qwen3OmniMoeForConditionalGeneration,
                              Qwen3VLForConditionalGeneration)
    vl_dir = os.path.join(GOLDEN, "qwen3-vl")
    omni_dir = os.path.join(GOLDEN, "qwen3-omni-thinker")
    proc = AutoProcessor.from_pretrained(vl_dir)
    vl = Qwen3VLForConditionalGeneration.from_pretrained(
        vl_dir, dtype=torch.float32, attn_implementation="eager").eval()
    omni_tok = AutoTokenizer.from_pretrained(omni_dir)
    omni = Qwen3OmniMoeForConditionalGeneration.from_pretrained(
        omni_dir, dtype=torch.float32, attn_implementation="eager").eval().thinker
    cases = []
    for name, pattern, w, h, model in CASES:
        rgb = dump_frame(build, pattern, w, h, model)
        if model == "qwen3-vl":
            ids, margin = greedy(vl, vl_inputs(proc, rgb))
            tok = proc.tokenizer
        else:
            ids, margin = greedy(omni, omni_inputs(omni_tok, rgb))
            tok = omni_tok
        text = tok.decode(ids, skip_special_tokens=True)
        print(f"{name}: margin {margin:.3g}: {text!r}")
        cases.append({"name": name, "pattern": pattern, "width": w, "height": h,
                      "format": "I420", "model": model, "prompt": PROMPT,
                      "max_tokens": MAX_TOKENS, "rgb_sum": int(rgb.astype(np.int64).sum()),
                      "greedy_ids": ids, "greedy_text": text, "min_margin": margin})
    out = {"generator": "tests/omni/make_vl_golden.py",
           "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
           "cases": cases}
    with open(os.path.join(HERE, "data", "vl-golden.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
