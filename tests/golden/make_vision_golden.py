#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Regenerate the vision golden fixtures of tests/golden (development tool only).

Writes
  images/                 pictures made with GStreamer's videotestsrc/textoverlay/pngenc
                          (images/README.md has the commands and tool versions)
  qwen3-vl/               tiny Qwen3VLForConditionalGeneration + golden.json/.safetensors
  qwen3-vl-moe/           tiny Qwen3VLMoeForConditionalGeneration (released fused expert layout)
  qwen3-omni-thinker/     image cases ADDED to the existing golden files (weights untouched)
Helpers come from make_golden.py and make_audio_golden.py. Needs torch, torchvision,
pillow, transformers and gst-launch-1.0; CI never runs it.

    python3 tests/golden/make_vision_golden.py [images|vl|vlmoe|omni ...]
"""

import gc
import json
import os
import shlex
import subprocess
import sys

import numpy as np
import torch
import transformers
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from transformers import (AutoProcessor, GenerationConfig, Qwen2VLImageProcessor,
                          Qwen3OmniMoeForConditionalGeneration, Qwen3VLConfig,
                          Qwen3VLForConditionalGeneration, Qwen3VLMoeConfig,
                          Qwen3VLMoeForConditionalGeneration)
from transformers.video_utils import VideoMetadata

import make_audio_golden as mag
import make_golden as mg

HERE = mg.HERE
IMG_DIR = os.path.join(HERE, "images")
VL_DIR = os.path.join(HERE, "qwen3-vl")
VLMOE_DIR = os.path.join(HERE, "qwen3-vl-moe")
OMNI_DIR = mag.OMNI_DIR

# ------------------------------------------------------------------ images

RGB_CAPS = "video/x-raw,format=RGB"
IMAGES = {
    "smpte-333x517.png":
        f"videotestsrc pattern=smpte num-buffers=1 ! {RGB_CAPS},width=333,height=517 ! "
        "pngenc ! filesink location={out}",
    "text-640x360.png":
        "videotestsrc pattern=white num-buffers=1 ! video/x-raw,format=BGRx,width=640,height=360 ! "
        "textoverlay text=\"GStreamer 42\" font-desc=\"Sans Bold 56\" valignment=center "
        "halignment=center color=0xff102080 draw-shadow=false draw-outline=false ! "
        f"videoconvert ! {RGB_CAPS} ! pngenc ! filesink location={{out}}",
    "ball-64x48.png":
        f"videotestsrc pattern=ball num-buffers=1 ! {RGB_CAPS},width=64,height=48 ! "
        "pngenc ! filesink location={out}",
    "wide-1000x40.png":
        f"videotestsrc pattern=colors num-buffers=1 ! {RGB_CAPS},width=1000,height=40 ! "
        "pngenc ! filesink location={out}",
    "clip":
        f"videotestsrc pattern=ball num-buffers=6 ! {RGB_CAPS},width=160,height=120,framerate=2/1 ! "
        "pngenc ! multifilesink location={out}/frame-%d.png",
}
CLIP_FRAMES = 6
CLIP_FPS = 2.0


def gst_version():
    out = subprocess.run(["gst-launch-1.0", "--version"], capture_output=True, text=True).stdout
    return " ".join(out.split("\n")[1].split()[-1:]) if out else "?"


def make_images():
    os.makedirs(os.path.join(IMG_DIR, "clip"), exist_ok=True)
    lines = ["# Pictures for the vision golden fixtures", "",
             "Made by `make_vision_golden.py` with GStreamer " + gst_version() +
             " (`gst-launch-1.0 -q`, videotestsrc, textoverlay (pango), pngenc defaults,",
             "Debian 12 packages). PNG is lossless: the C side decodes exactly these 8-bit RGB",
             "pixels (no alpha, no gamma chunk). textoverlay renders with the fonts installed",
             "(fontconfig 'Sans'), so a rerun elsewhere may draw the text differently; the",
             "committed PNG is the reference, not the command.", ""]
    for name, pipe in IMAGES.items():
        out = os.path.join(IMG_DIR, name)
        cmd = pipe.replace("{out}", out)
        subprocess.run(["gst-launch-1.0", "-q"] + shlex.split(cmd), check=True)
        shown = pipe.replace("{out}", name)
        lines += [f"## {name}", "", "    gst-launch-1.0 -q " + shown, ""]
    for f in [os.path.join(IMG_DIR, n) for n in IMAGES if n != "clip"] + clip_files():
        os.chmod(f, 0o644)
        im = Image.open(f)
        if im.mode != "RGB":
            sys.exit(f"{f}: mode {im.mode}, expected RGB")
    sizes = {n: os.path.getsize(os.path.join(IMG_DIR, n)) for n in IMAGES if n != "clip"}
    sizes["clip"] = sum(os.path.getsize(f) for f in clip_files())
    total = sum(sizes.values())
    if total > 400 * 1024:
        sys.exit(f"images: {total} bytes, over the 400 KB budget")
    lines += ["The clip is 6 consecutive frames of a 2 fps stream (timestamps 0, 0.5, ... 2.5 s);",
              "the golden runs pass it as one video with fps 2 and 6 total frames.", "",
              "Sizes (bytes): " + ", ".join(f"{k} {v}" for k, v in sizes.items()) +
              f"; total {total}."]
    mg.write_text(os.path.join(IMG_DIR, "README.md"), "\n".join(lines) + "\n")


def clip_files():
    return [os.path.join(IMG_DIR, "clip", f"frame-{i}.png") for i in range(CLIP_FRAMES)]


def load_png(path):
    im = Image.open(path)
    im.load()
    assert im.mode == "RGB", path
    return im


# ------------------------------------------------------------ configs

# Min/max pixels small enough that the tiny pictures give a handful of
# tokens; min is 8192 (not 4096) so that ball-64x48 really takes the
# min-pixels (upscale) branch of smart_resize: at 4096 its rounded 64x64
# would equal the minimum exactly.
IMAGE_MIN_PIXELS = 8192
IMAGE_MAX_PIXELS = 65536
VIDEO_MIN_PIXELS = 4096
VIDEO_MAX_PIXELS = 65536


def image_preprocessor_config(processor_class):
    # Keys as in the released Qwen3-VL preprocessor_config.json (everything
    # else takes the class defaults: BICUBIC, rescale 1/255, convert RGB).
    return {"size": {"longest_edge": IMAGE_MAX_PIXELS, "shortest_edge": IMAGE_MIN_PIXELS},
            "patch_size": 16, "temporal_patch_size": 2, "merge_size": 2,
            "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5],
            "processor_class": processor_class,
            "image_processor_type": "Qwen2VLImageProcessorFast"}


def video_preprocessor_config():
    return {"size": {"longest_edge": VIDEO_MAX_PIXELS, "shortest_edge": VIDEO_MIN_PIXELS},
            "patch_size": 16, "temporal_patch_size": 2, "merge_size": 2,
            "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5],
            "processor_class": "Qwen3VLProcessor",
            "video_processor_type": "Qwen3VLVideoProcessor"}


# Qwen3-VL Instruct prompt format (spec 4.6): no default system turn, the
# vision items rendered in content order, no <think>. Ours, written after the
# released template's output for user/assistant/system text, image and video
# items (tools and add_vision_id are not covered). A video item is a bare
# <|video_pad|>: transformers 5.24's Qwen3VLProcessor replaces only that token
# with "<t seconds><|vision_start|><|video_pad|>xN<|vision_end|>" per temporal
# group, so the released "<|vision_start|><|video_pad|><|vision_end|>" would
# come out nested in a second start/end pair; the bare token gives the
# reference prompt of spec 4.3 (qwen-vl-utils, transformers 4.57).
VL_CHAT_TEMPLATE = (
    "{%- for m in messages -%}"
    "{{- '<|im_start|>' + m.role + '\\n' -}}"
    "{%- if m.content is string -%}{{- m.content -}}"
    "{%- else -%}{%- for c in m.content -%}"
    "{%- if c.type == 'image' -%}{{- '<|vision_start|><|image_pad|><|vision_end|>' -}}"
    "{%- elif c.type == 'video' -%}{{- '<|video_pad|>' -}}"
    "{%- elif c.type == 'text' -%}{{- c.text -}}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{{- '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}")

TEXT_HIDDEN = 4
VISION = dict(depth=3, hidden_size=16, hidden_act="gelu_pytorch_tanh", intermediate_size=32,
              num_heads=2, in_channels=3, patch_size=16, spatial_merge_size=2,
              temporal_patch_size=2, out_hidden_size=TEXT_HIDDEN, num_position_embeddings=16,
              deepstack_visual_indexes=[0, 1])
ROPE = {"rope_type": "default", "rope_theta": 5000000.0, "mrope_section": [4, 2, 2],
        "mrope_interleaved": True}
IDS = dict(image_token_id=151655, video_token_id=151656, vision_start_token_id=151652,
           vision_end_token_id=151653)


def text_common():
    return dict(vocab_size=mg.VOCAB, hidden_size=TEXT_HIDDEN, head_dim=16, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, hidden_act="silu",
                max_position_embeddings=262144, rms_norm_eps=1e-6, rope_parameters=dict(ROPE),
                attention_bias=False, tie_word_embeddings=True)


def vl_config():
    text = dict(text_common(), intermediate_size=16)
    return Qwen3VLConfig(text_config=text, vision_config=dict(VISION), tie_word_embeddings=True,
                         architectures=["Qwen3VLForConditionalGeneration"], **IDS)


def vlmoe_config():
    text = dict(text_common(), intermediate_size=16, moe_intermediate_size=8, num_experts=8,
                num_experts_per_tok=2, decoder_sparse_step=1, mlp_only_layers=[])
    return Qwen3VLMoeConfig(text_config=text, vision_config=dict(VISION), tie_word_embeddings=True,
                            architectures=["Qwen3VLMoeForConditionalGeneration"], **IDS)


# With hidden 4 the logits are a 4-d dot product against 151,936 random rows:
# top-1/top-2 gaps are small. Scaling the final RMSNorm weight spreads the
# logits so the 1e-2 margin holds at every step (golden-format allows
# scaling the init).
# The MoE model also multiplies its router weights: ~850 token-layers per
# seed must each keep the 2nd-3rd router logit gap >= 1e-2, which needs
# router logits with a spread of tens.
GAINS = {"vl": {"final_norm": 4.0, "router": 1.0},
         "vlmoe": {"final_norm": 8.0, "router": 25.0}}


def init_vl(model, seed, gains):
    mag.init_weights(model, seed)
    with torch.no_grad():
        model.model.language_model.norm.weight.mul_(gains["final_norm"])
        for layer in model.model.language_model.layers:
            if hasattr(layer.mlp, "gate"):
                layer.mlp.gate.weight.mul_(gains["router"])
    assert model.lm_head.weight is model.model.language_model.embed_tokens.weight, "not tied"


def vl_generation_config():
    # Qwen3-VL Instruct generation_config.json values (spec 4.7); the golden
    # runs override them with greedy decoding.
    return GenerationConfig(bos_token_id=mg.BOS_ID, eos_token_id=[151645, 151643],
                            pad_token_id=mg.PAD_ID, do_sample=True, temperature=0.7, top_k=20,
                            top_p=0.8, repetition_penalty=1.0)


def write_vl_side_files(model_dir, processor_class):
    with open(os.path.join(mg.TOK_DIR, "tokenizer_config.json")) as f:
        tc = json.load(f)
    tc["chat_template"] = VL_CHAT_TEMPLATE
    tc["processor_class"] = processor_class
    mg.write_json(os.path.join(model_dir, "tokenizer_config.json"), tc)
    mg.write_text(os.path.join(model_dir, "chat_template.jinja"), VL_CHAT_TEMPLATE + "\n")
    mg.write_json(os.path.join(model_dir, "preprocessor_config.json"),
                  image_preprocessor_config(processor_class))
    mg.write_json(os.path.join(model_dir, "video_preprocessor_config.json"),
                  video_preprocessor_config())
    mag.link_tokenizer_json(model_dir)


def to_released_expert_layout(model_dir):
    """transformers 5.24 save_pretrained writes the fused experts as it holds
    them, gate_up_proj [E, 2I, H] and down_proj [E, H, I] (nn.Linear form); the
    released Qwen3-VL-MoE files hold the transposes [E, H, 2I] / [E, I, H]
    (spec 4.9), which from_pretrained transposes back on load."""
    path = os.path.join(model_dir, "model.safetensors")
    t = load_file(path)
    for k in t:
        if k.endswith(("mlp.experts.gate_up_proj", "mlp.experts.down_proj")):
            t[k] = t[k].transpose(1, 2).contiguous()
    save_file(t, path, metadata={"format": "pt"})


def patch_vl_config(model_dir, moe):
    """Add the text_config keys released Qwen3-VL configs carry (rope_theta,
    rope_scaling) next to transformers 5's rope_parameters, and rename the
    internal num_local_experts to the released num_experts (MoE)."""
    path = os.path.join(model_dir, "config.json")
    with open(path) as f:
        cfg = json.load(f)
    tc = cfg["text_config"]
    rp = tc["rope_parameters"]
    tc["rope_theta"] = rp["rope_theta"]
    tc["rope_scaling"] = {"mrope_interleaved": rp["mrope_interleaved"],
                          "mrope_section": rp["mrope_section"], "rope_type": rp["rope_type"]}
    if moe:
        tc["num_experts"] = tc.pop("num_local_experts")
    mg.write_text(path, json.dumps(cfg, indent=2, sort_keys=True) + "\n")


def save_vl(model, model_dir, moe):
    mg.clean_model_dir(model_dir)
    model.generation_config = vl_generation_config()
    model.save_pretrained(model_dir)
    if moe:
        to_released_expert_layout(model_dir)
    patch_vl_config(model_dir, moe)
    write_vl_side_files(model_dir, "Qwen3VLProcessor")
    if any(f.endswith(".index.json") for f in os.listdir(model_dir)):
        sys.exit(f"{model_dir}: expected one safetensors file")


def vl_expected_names(cfg, moe):
    v = cfg.vision_config
    names = {"model.visual.patch_embed.proj.weight", "model.visual.patch_embed.proj.bias",
             "model.visual.pos_embed.weight",
             "model.language_model.embed_tokens.weight", "model.language_model.norm.weight"}
    for i in range(v.depth):
        p = f"model.visual.blocks.{i}."
        for m in ("norm1", "norm2", "attn.qkv", "attn.proj", "mlp.linear_fc1", "mlp.linear_fc2"):
            names |= {p + m + ".weight", p + m + ".bias"}
    for p in ["model.visual.merger."] + [f"model.visual.deepstack_merger_list.{k}."
                                          for k in range(len(v.deepstack_visual_indexes))]:
        for m in ("norm", "linear_fc1", "linear_fc2"):
            names |= {p + m + ".weight", p + m + ".bias"}
    for layer in range(cfg.text_config.num_hidden_layers):
        p = f"model.language_model.layers.{layer}."
        names |= {p + "input_layernorm.weight", p + "post_attention_layernorm.weight"}
        names |= {p + f"self_attn.{w}.weight" for w in
                  ("q_proj", "k_proj", "v_proj", "o_proj", "q_norm", "k_norm")}
        if moe:
            names |= {p + "mlp.gate.weight", p + "mlp.experts.gate_up_proj",
                      p + "mlp.experts.down_proj"}
        else:
            names |= {p + f"mlp.{w}.weight" for w in ("gate_proj", "up_proj", "down_proj")}
    return names


def check_vl_files(model_dir, model, moe):
    """Released names and (for MoE) the fused transposed expert layout, spec 4.8/4.9."""
    t = mg.saved_tensors(model_dir)
    want = vl_expected_names(model.config, moe)
    if set(t) != want:
        sys.exit(f"{model_dir}: names differ: extra {sorted(set(t) - want)[:5]} "
                 f"missing {sorted(want - set(t))[:5]}")
    if any(d != "F32" for _, _, d in t.values()):
        sys.exit(f"{model_dir}: not all F32")
    if moe:
        c = model.config.text_config
        e, h, i = c.num_experts, c.hidden_size, c.moe_intermediate_size
        sd = model.state_dict()
        with safe_open(os.path.join(model_dir, "model.safetensors"), "pt") as f:
            for layer in range(c.num_hidden_layers):
                p = f"model.language_model.layers.{layer}.mlp.experts."
                gu, dn = f.get_tensor(p + "gate_up_proj"), f.get_tensor(p + "down_proj")
                if list(gu.shape) != [e, h, 2 * i] or list(dn.shape) != [e, i, h]:
                    sys.exit(f"{model_dir}: {p}: shapes {list(gu.shape)} {list(dn.shape)}, "
                             f"expected [E,H,2I]=[{e},{h},{2 * i}] and [E,I,H]")
                # in memory transformers keeps [E, 2I, H] / [E, H, I] (nn.Linear form)
                if not torch.equal(gu, sd[p + "gate_up_proj"].transpose(1, 2)) or \
                        not torch.equal(dn, sd[p + "down_proj"].transpose(1, 2)):
                    sys.exit(f"{model_dir}: {p}: disk is not the transpose of memory")
    return sorted(t)


# ------------------------------------ independent preprocessing reference

def np_smart_resize(h, w, lo, hi, factor=32, frames=1):
    """Spec 4.2/4.3 smart_resize (frames > 1: the Qwen3-VL video variant,
    whose budget counts t_bar * h * w)."""
    if frames > 1 and (h < factor or w < factor):
        s = max(factor / h, factor / w)
        h, w = int(h * s), int(w * s)
    if max(h, w) / min(h, w) > 200:
        raise ValueError("aspect ratio over 200")
    hb, wb = round(h / factor) * factor, round(w / factor) * factor
    t = round(frames / 2) * 2 if frames > 1 else 1
    if t * hb * wb > hi:
        beta = (frames * h * w / hi) ** 0.5
        hb = max(factor, int(h / beta / factor) * factor)
        wb = max(factor, int(w / beta / factor) * factor)
    elif t * hb * wb < lo:
        beta = (lo / (frames * h * w)) ** 0.5
        hb = -int(-(h * beta) // factor) * factor
        wb = -int(-(w * beta) // factor) * factor
    return hb, wb


def np_cubic(x, a=-0.5):
    x = abs(x)
    if x < 1:
        return ((a + 2) * x - (a + 3)) * x * x + 1
    if x < 2:
        return (((x - 5) * x + 8) * x - 4) * a
    return 0.0


def np_resample_axis(img, out_size, axis):
    """One separable pass of torch's CPU uint8 antialiased bicubic (the path
    torchvision takes for uint8 input): Keys a = -0.5, support 2 * max(scale,
    1), taps normalised to sum 1, then int16 fixed point with the largest
    precision p <= 22 that keeps round(w_max * 2^(p+1)) < 2^15, weights
    rounded half away from zero, accumulator starting at 2^(p-1), result
    >> p clamped to 0..255 (the intermediate image is uint8)."""
    n_in = img.shape[axis]
    scale = n_in / out_size
    support = 2.0 * max(scale, 1.0)
    inv = 1.0 / max(scale, 1.0)
    taps = []
    for i in range(out_size):
        center = scale * (i + 0.5)
        lo = max(int(center - support + 0.5), 0)
        hi = min(int(center + support + 0.5), n_in)
        w = [np_cubic((j + lo - center + 0.5) * inv) for j in range(hi - lo)]
        total = sum(w)
        taps.append((lo, [x / total for x in w] if total != 0 else w))
    w_max = max(max(w) for _, w in taps)
    prec = 0
    while prec < 22 and int(0.5 + w_max * (1 << (prec + 1))) < (1 << 15):
        prec += 1
    a = np.moveaxis(img.astype(np.int64), axis, 0)
    out = np.empty((out_size,) + a.shape[1:], np.int64)
    for i, (lo, w) in enumerate(taps):
        acc = np.full(a.shape[1:], 1 << (prec - 1), np.int64)
        for k, x in enumerate(w):
            acc += a[lo + k] * (int(x * (1 << prec) + 0.5) if x >= 0 else int(x * (1 << prec) - 0.5))
        out[i] = np.clip(acc >> prec, 0, 255)
    return np.moveaxis(out, 0, axis).astype(np.uint8)


def np_resize(img, oh, ow):
    """Horizontal pass first, then vertical; a pass whose size is unchanged is skipped."""
    if ow != img.shape[1]:
        img = np_resample_axis(img, ow, 1)
    if oh != img.shape[0]:
        img = np_resample_axis(img, oh, 0)
    return img


def np_pixels(frames_u8, oh, ow):
    """uint8 HWC frames -> [gt*gh*gw, 1536] rows in merge-block order (spec 4.2)."""
    x = np.stack([np_resize(f, oh, ow) for f in frames_u8]).astype(np.float32)
    x = (x - np.float32(127.5)) / np.float32(127.5)          # the processor's fused rescale+normalize
    x = x.transpose(0, 3, 1, 2)                                # T, C, H, W
    if len(x) % 2:
        x = np.concatenate([x, x[-1:]])                        # repeat the last frame
    gt, gh, gw = len(x) // 2, oh // 16, ow // 16
    x = x.reshape(gt, 2, 3, gh // 2, 2, 16, gw // 2, 2, 16)
    x = x.transpose(0, 3, 6, 4, 7, 2, 1, 5, 8)
    return x.reshape(gt * gh * gw, 3 * 2 * 16 * 16)


def check_pixels(name, p, lo, hi, video_frames_budget):
    """The processor's pixels must equal the numpy reference bit for bit."""
    if p["kind"] == "image":
        frames = [np.array(load_png(os.path.join(IMG_DIR, os.path.basename(p["source"]))))]
        pix = p["inputs"]["pixel_values"]
    else:
        frames = [np.array(load_png(f)) for f in clip_files()]
        pix = p["inputs"]["pixel_values_videos"]
    h, w = frames[0].shape[:2]
    oh, ow = np_smart_resize(h, w, lo, hi, frames=len(frames) if video_frames_budget else 1)
    ref = np_pixels(frames if p["kind"] == "video" else frames * 2, oh, ow)
    if ref.shape != tuple(pix.shape) or not np.array_equal(ref, pix.numpy()):
        sys.exit(f"{name}: processor pixels differ from the numpy reference "
                 f"({ref.shape} vs {tuple(pix.shape)})")


def smart_resize_table():
    """What transformers' smart_resize gives for edge sizes (image budget of qwen3-vl)."""
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize
    rows = []
    for h, w in [(1, 1), (1, 200), (1, 201), (16, 16), (31, 33), (48, 64), (40, 1000),
                 (32, 6400), (517, 333), (360, 640), (3000, 4000), (20000, 100)]:
        try:
            got = list(smart_resize(h, w, 32, IMAGE_MIN_PIXELS, IMAGE_MAX_PIXELS))
            mine = list(np_smart_resize(h, w, IMAGE_MIN_PIXELS, IMAGE_MAX_PIXELS))
            assert got == mine, (h, w, got, mine)
        except ValueError as e:
            got = "ValueError: " + str(e)
        rows.append({"hw": [h, w], "resized_hw": got})
    return rows


# ------------------------------------------------------------- cases

IMAGE_CASES = [  # name, picture, user text
    ("describe_smpte", "smpte-333x517.png", "Describe this image."),
    ("question_text", "text-640x360.png", "What is written in this image?"),
    ("describe_ball", "ball-64x48.png", "Describe this image."),
    ("describe_wide", "wide-1000x40.png", "Describe this image."),
]
VIDEO_CASE = ("describe_clip", "clip", "Describe this video.")


def vl_messages(kind, text):
    return [{"role": "user", "content": [{"type": kind}, {"type": "text", "text": text}]}]


def clip_metadata():
    return VideoMetadata(total_num_frames=CLIP_FRAMES, fps=CLIP_FPS, width=160, height=120,
                         duration=CLIP_FRAMES / CLIP_FPS, video_backend="pngenc frames")


def collapse_pads(text):
    """Write each run of a pad token as '<|x_pad|>xN' (as the audio fixtures do)."""
    out = []
    i = 0
    while i < len(text):
        for tok in ("<|image_pad|>", "<|video_pad|>"):
            if text.startswith(tok, i):
                n = 0
                while text.startswith(tok, i):
                    i += len(tok)
                    n += 1
                out.append(f"{tok}x{n}")
                break
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def vl_prepare(proc):
    """Processor inputs for every case (chat template, then processor call)."""
    prepared = {}
    for name, pic, text in IMAGE_CASES:
        rendered = proc.apply_chat_template(vl_messages("image", text), tokenize=False,
                                            add_generation_prompt=True)
        img = load_png(os.path.join(IMG_DIR, pic))
        inp = proc(text=[rendered], images=[img], return_tensors="pt")
        expanded = proc.tokenizer.decode(inp["input_ids"][0])
        prepared[name] = dict(inputs=dict(inp), kind="image", source=f"../images/{pic}", user=text,
                              template_text=rendered, prompt_text=collapse_pads(expanded),
                              size=[img.height, img.width])
    name, _, text = VIDEO_CASE
    rendered = proc.apply_chat_template(vl_messages("video", text), tokenize=False,
                                        add_generation_prompt=True)
    frames = np.stack([np.array(load_png(f)) for f in clip_files()])
    inp = proc(text=[rendered], videos=[frames], video_metadata=[clip_metadata()],
               do_sample_frames=True, return_tensors="pt")
    inp.pop("video_metadata", None)
    indices = proc.video_processor.sample_frames(clip_metadata()).tolist()
    expanded = proc.tokenizer.decode(inp["input_ids"][0])
    prepared[name] = dict(inputs=dict(inp), kind="video",
                          source=[f"../images/clip/frame-{i}.png" for i in range(CLIP_FRAMES)],
                          user=text, template_text=rendered, prompt_text=collapse_pads(expanded),
                          size=[120, 160], fps=CLIP_FPS,
                          frames_indices=indices,
                          timestamps=proc._calculate_timestamps(indices, CLIP_FPS, 2))
    for p in prepared.values():
        ids = p["inputs"]["input_ids"][0].tolist()
        if ids != proc.tokenizer.encode(proc.tokenizer.decode(ids), add_special_tokens=False):
            sys.exit("prompt ids do not round-trip through the tokenizer")
    return prepared


def vision_outputs(model, inputs, kind):
    """Merger output and DeepStack features of one case (model.get_*_features)."""
    m = model.model
    with torch.no_grad():
        if kind == "image":
            out = m.get_image_features(inputs["pixel_values"], inputs["image_grid_thw"])
        else:
            out = m.get_video_features(inputs["pixel_values_videos"], inputs["video_grid_thw"])
    vis = torch.cat(list(out.pooler_output))
    ds = [torch.cat(list(f)) for f in out.deepstack_features]
    return vis, ds


def router_margin_vl(model, inputs):
    gaps = []

    def hook(mod, _inp, out):
        srt = torch.sort(out[0].float(), dim=-1, descending=True).values
        gaps.append(srt[:, mod.top_k - 1] - srt[:, mod.top_k])

    hs = [layer.mlp.gate.register_forward_hook(hook)
          for layer in model.model.language_model.layers if hasattr(layer.mlp, "gate")]
    with torch.no_grad():
        model(**inputs, use_cache=False)
    for h in hs:
        h.remove()
    return float(torch.cat(gaps).min())


def full_inputs(inputs, greedy):
    """Prompt + all greedy ids but the last (one uncached forward covers every step)."""
    out = dict(inputs)
    ids = torch.cat([inputs["input_ids"], torch.tensor([greedy[:-1]])], 1)
    out["input_ids"] = ids
    out["attention_mask"] = torch.ones_like(ids)
    if "mm_token_type_ids" in inputs:
        out["mm_token_type_ids"] = torch.cat(
            [inputs["mm_token_type_ids"], torch.zeros(1, len(greedy) - 1, dtype=torch.long)], 1)
    return out


def run_cases(model, prepared, label, moe):
    results = {}
    for name, p in prepared.items():
        inputs = p["inputs"]
        greedy, logits = mag.generate(model, inputs)
        st = mag.check_case(model, inputs, greedy, logits, f"{label} {name}")
        if isinstance(st, str):
            return st
        if moe:
            st["min_router_margin"] = router_margin_vl(model, full_inputs(inputs, greedy))
            if st["min_router_margin"] < mg.MIN_ROUTER_MARGIN:
                return f"{label} {name}: router margin {st['min_router_margin']:.3g}"
        results[name] = (greedy, logits, st)
    return results


# f32 rounding alone must move the first logits by at most a tenth of the
# tests' 1e-4 (measured against the same model in float64), or a correct
# implementation could miss the tolerance on this fixture.
MAX_F32_NOISE = 1e-5


def check_conditioning(cls, model_dir, prepared, results, label):
    m64 = cls.from_pretrained(model_dir, dtype=torch.float64, attn_implementation="eager",
                              experts_implementation="eager").eval()
    for name, p in prepared.items():
        inputs = {k: (v.double() if torch.is_tensor(v) and v.is_floating_point() else v)
                  for k, v in p["inputs"].items()}
        with torch.no_grad():
            l64 = m64(**inputs).logits[0, -1]
        l32 = results[name][1][0].double()
        noise = float((l32 - l64).abs().max() / l64.abs().max())
        results[name][2]["f32_noise"] = noise
        if noise > MAX_F32_NOISE:
            return f"{label} {name}: f32 noise {noise:.3g} of the largest first logit"
    return results


def case_record(name, p, greedy, st, tok, vis_rows, grid):
    rec = {"name": name, "kind": p["kind"], "source": p["source"], "source_size_hw": p["size"],
           "user_text": p["user"], "template_text": p["template_text"],
           "prompt_text": p["prompt_text"],
           "input_ids": p["inputs"]["input_ids"][0].tolist(),
           "grid_thw": grid, "resized_hw": [grid[1] * 16, grid[2] * 16],
           "n_patches": grid[0] * grid[1] * grid[2], "n_vision_tokens": vis_rows,
           "greedy_ids": greedy, "greedy_text": tok.decode(greedy, skip_special_tokens=True)}
    if p["kind"] == "video":
        rec.update(fps=p["fps"], frames_indices=p["frames_indices"], timestamps=p["timestamps"])
    rec.update(st)
    return rec


def vision_batch(model, prepared, names):
    """The images of `names` through the encoder in one call (segmented attention)."""
    pix = torch.cat([prepared[n]["inputs"]["pixel_values"] for n in names])
    grid = torch.cat([prepared[n]["inputs"]["image_grid_thw"] for n in names])
    vis, _ = vision_outputs(model, {"pixel_values": pix, "image_grid_thw": grid}, "image")
    return vis


def make_vl(model_dir, moe, base_seed):
    cls = Qwen3VLMoeForConditionalGeneration if moe else Qwen3VLForConditionalGeneration
    tag = "vlmoe" if moe else "vl"
    mg.clean_model_dir(model_dir)
    write_vl_side_files(model_dir, "Qwen3VLProcessor")
    proc = AutoProcessor.from_pretrained(model_dir)
    prepared = vl_prepare(proc)
    for name, p in prepared.items():
        if p["kind"] == "image":
            check_pixels(name, p, IMAGE_MIN_PIXELS, IMAGE_MAX_PIXELS, False)
        else:
            check_pixels(name, p, VIDEO_MIN_PIXELS, VIDEO_MAX_PIXELS, True)
    for seed in range(base_seed, base_seed + mg.MAX_SEED_TRIES):
        torch.manual_seed(seed)
        model = cls(vlmoe_config() if moe else vl_config())
        init_vl(model, seed, GAINS[tag])
        save_vl(model, model_dir, moe)
        names_on_disk = check_vl_files(model_dir, model, moe)
        ref = cls.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager").eval()
        a, b = model.state_dict(), ref.state_dict()
        if set(a) != set(b) or any(not torch.equal(a[k], b[k]) for k in a):
            sys.exit(f"{model_dir}: reloaded parameters differ")
        tc, tb = model.config.text_config, ref.config.text_config
        if tb.rope_parameters != tc.rope_parameters or tb.tie_word_embeddings is not True or \
                (moe and (tb.num_experts, tb.num_experts_per_tok) != (8, 2)) or \
                {k: v for k, v in ref.config.vision_config.to_dict().items() if k != "dtype"} != \
                {k: v for k, v in model.config.vision_config.to_dict().items() if k != "dtype"}:
            sys.exit(f"{model_dir}: config did not read back")
        results = run_cases(ref, prepared, f"{tag} seed {seed}", moe)
        if not isinstance(results, str):
            results = check_conditioning(cls, model_dir, prepared, results, f"{tag} seed {seed}")
        if not isinstance(results, str):
            break
        print(results, "- trying the next seed", flush=True)
        del model, ref
        gc.collect()
    else:
        sys.exit(f"{tag}: no seed passed")

    tok = proc.tokenizer
    tensors, cases, extra = {}, [], []
    for name, p in prepared.items():
        inputs = p["inputs"]
        kind = p["kind"]
        pix = inputs["pixel_values" if kind == "image" else "pixel_values_videos"]
        grid = inputs["image_grid_thw" if kind == "image" else "video_grid_thw"][0].tolist()
        vis, ds = vision_outputs(ref, inputs, kind)
        n_tok = int((inputs["input_ids"][0] == (151655 if kind == "image" else 151656)).sum())
        assert vis.shape == (n_tok, TEXT_HIDDEN) and pix.shape == (grid[0] * grid[1] * grid[2], 1536)
        if moe:
            # identical processor settings: the pixels live once, in qwen3-vl
            with safe_open(os.path.join(VL_DIR, "golden.safetensors"), "pt") as f:
                if not torch.equal(f.get_tensor(f"pixels_{name}"), pix):
                    sys.exit(f"{model_dir}: pixels_{name} differ from qwen3-vl's")
        else:
            tensors[f"pixels_{name}"] = pix
        tensors[f"vision_{name}"] = vis
        for k, d in enumerate(ds):
            tensors[f"deepstack_{name}_{k}"] = d
        greedy, logits, st = results[name]
        extra += greedy
        cases.append(case_record(name, p, greedy, st, tok, n_tok, grid))
    subset = mg.subset_ids(extra)
    sel = torch.tensor(subset)
    for name in prepared:
        logits = results[name][1]
        tensors[f"logits_first_{name}"] = logits[0]
        tensors[f"logits_steps_{name}"] = logits[:, sel]
    batch_names = ["describe_smpte", "describe_ball"]
    tensors["vision_batch"] = vision_batch(ref, prepared, batch_names)
    single = torch.cat([tensors[f"vision_{n}"] for n in batch_names])
    golden = mag.base_golden(seed)
    golden.update({
        "model_type": ref.config.model_type,
        "init": dict(mag.INIT, final_norm_gain=GAINS[tag]["final_norm"],
                     router_extra_gain=GAINS[tag]["router"]),
        "image_processor_type": type(proc.image_processor).__name__,
        "video_processor_type": type(proc.video_processor).__name__,
        "prompt_source": "this dir's chat_template.jinja through Qwen3VLProcessor."
                         "apply_chat_template(tokenize=False, add_generation_prompt=True), then "
                         "the processor call (placeholder expansion, video timestamps)",
        "video_call": {"fps": CLIP_FPS, "total_num_frames": CLIP_FRAMES, "do_sample_frames": True,
                       "cap_pixels_per_frame": None},
        "pixels_file": "golden.safetensors" if not moe else "../qwen3-vl/golden.safetensors",
        "cases": cases, "subset_ids": subset,
        "vision_batch": {"cases": batch_names,
                         "rows": [tensors[f"vision_{n}"].shape[0] for n in batch_names],
                         "batch_vs_single_rel_diff": mg.rel_diff(tensors["vision_batch"], single)},
        "tensor_names_on_disk": names_on_disk,
        "pixels_numpy_reference": "bit-exact (make_vision_golden.np_pixels)",
        "smart_resize_examples": smart_resize_table(),
    })
    mag.write_golden(model_dir, golden, tensors)
    print(f"{tag}: seed {seed}, margins {[round(c['min_margin'], 4) for c in cases]}"
          + (f", router {[round(c['min_router_margin'], 4) for c in cases]}" if moe else ""),
          flush=True)


# ------------------------------------------------------------------ omni

# The Omni snapshot's preprocessor_config.json holds only the audio part and
# stays untouched; the image/video settings used here are recorded in
# golden.json ("vision_processors"). Images: as qwen3-vl but max 32768
# pixels; video: Qwen2VLVideoProcessor (AutoVideoProcessor's class for
# qwen3_omni_moe), per-frame budget 4096..20480, no frame sampling, no
# timestamp text. The budgets were picked so that the vision tokens' router
# margins (fixed by the fixed weights, whatever the text) stay >= 1e-2: at
# 65536 a smpte token has 0.0052, at 16384 per frame a clip token 0.0063.
# Pixels equal to qwen3-vl's are not stored twice (cases[].pixels says where).
OMNI_VIDEO = {"size": {"longest_edge": 20480, "shortest_edge": 4096}, "patch_size": 16,
              "temporal_patch_size": 2, "merge_size": 2, "image_mean": [0.5, 0.5, 0.5],
              "image_std": [0.5, 0.5, 0.5], "video_processor_type": "Qwen2VLVideoProcessor"}
OMNI_IMAGE = dict({k: v for k, v in image_preprocessor_config("Qwen3OmniMoeProcessor").items()
                   if k != "processor_class"},
                  size={"longest_edge": 32768, "shortest_edge": IMAGE_MIN_PIXELS})


def omni_prompt(tok, pad, n, user):
    text = ("<|im_start|>user\n<|vision_start|>" + pad * n + "<|vision_end|>" + user +
            "<|im_end|>\n<|im_start|>assistant\n")
    ids = tok.encode(text, add_special_tokens=False)
    return text, ids


# The Omni weights are fixed (audio fixtures), so a case whose greedy or
# router margin is too small cannot be reseeded: the next user text of its
# list is tried instead (recorded per case as user_text / user_text_tries).
OMNI_TEXTS = {
    "describe": ["Describe this image.", "Describe the image.", "What is in this image?",
                 "Describe this picture.", "What do you see?", "Describe it.", "What is this?",
                 "Tell me about this image.", "Caption this image.", "Look at this image."],
    "question": ["What is written in this image?", "What does the text say?",
                 "Read the text in this image.", "What is written here?", "Read this.",
                 "What does it say?", "Which words are shown?", "Transcribe the text."],
    "video": ["Describe this video.", "Describe the video.", "What happens in this video?",
              "What do you see?", "Describe it.", "What is this?", "Caption this video.",
              "Tell me about this video."],
}


def omni_processors():
    from transformers import Qwen2VLVideoProcessor
    improc = Qwen2VLImageProcessor(**{k: v for k, v in OMNI_IMAGE.items()
                                      if k != "image_processor_type"})
    vproc = Qwen2VLVideoProcessor(**{k: v for k, v in OMNI_VIDEO.items()
                                     if k != "video_processor_type"})
    return improc, vproc


def omni_prepare(tok, improc, vproc, name, user):
    pics = {n: pic for n, pic, _ in IMAGE_CASES}
    if name in pics:
        pic = pics[name]
        img = load_png(os.path.join(IMG_DIR, pic))
        feats = improc(images=[img], return_tensors="pt")
        n = int(feats["image_grid_thw"][0].prod()) // 4
        text, ids = omni_prompt(tok, "<|image_pad|>", n, user)
        assert ids.count(151655) == n
        inputs = {"input_ids": torch.tensor([ids]), "attention_mask": torch.ones(1, len(ids), dtype=torch.long),
                  "pixel_values": feats["pixel_values"], "image_grid_thw": feats["image_grid_thw"]}
        return dict(inputs=inputs, kind="image", source=f"../images/{pic}", user=user,
                    template_text=None, prompt_text=collapse_pads(text),
                    size=[img.height, img.width])
    frames = np.stack([np.array(load_png(f)) for f in clip_files()])
    feats = vproc(videos=[frames], return_tensors="pt")
    grid = feats["video_grid_thw"]
    n = int(grid[0].prod()) // 4
    text, ids = omni_prompt(tok, "<|video_pad|>", n, user)
    assert ids.count(151656) == n
    sec = vproc.temporal_patch_size / CLIP_FPS
    inputs = {"input_ids": torch.tensor([ids]), "attention_mask": torch.ones(1, len(ids), dtype=torch.long),
              "pixel_values_videos": feats["pixel_values_videos"], "video_grid_thw": grid,
              "video_second_per_grid": torch.tensor([sec])}
    return dict(inputs=inputs, kind="video",
                source=[f"../images/clip/frame-{i}.png" for i in range(CLIP_FRAMES)],
                user=user, template_text=None, prompt_text=collapse_pads(text),
                size=[120, 160], fps=CLIP_FPS, frames_indices=list(range(CLIP_FRAMES)),
                timestamps=None, video_second_per_grid=sec)


def omni_run_case(thinker, inputs, label):
    greedy, logits = mag.generate(thinker, inputs)
    st = mag.check_case(thinker, inputs, greedy, logits, label)
    if isinstance(st, str):
        return st
    st["min_router_margin"] = mag.router_margin_omni(thinker, full_inputs(inputs, greedy))
    if st["min_router_margin"] < mg.MIN_ROUTER_MARGIN:
        return f"{label}: router margin {st['min_router_margin']:.3g}"
    return greedy, logits, st


def make_omni_vision():
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(OMNI_DIR)
    gpath, tpath = os.path.join(OMNI_DIR, "golden.json"), os.path.join(OMNI_DIR, "golden.safetensors")
    with open(gpath, encoding="utf-8") as f:
        old_text = f.read()
    golden = json.loads(old_text)
    old = load_file(tpath)
    # drop what an earlier run of this function appended, keep the audio entries
    for k in [k for k in golden if k.startswith("vision_")]:
        del golden[k]
    old = {k: v for k, v in old.items() if k.startswith(("mel_", "audio_")) or
           k in {f"logits_first_{c['name']}" for c in golden["cases"]} or
           k in {f"logits_steps_{c['name']}" for c in golden["cases"]}}
    improc, vproc = omni_processors()
    improc_name, vproc_name = type(improc).__name__, type(vproc).__name__
    ref = Qwen3OmniMoeForConditionalGeneration.from_pretrained(
        OMNI_DIR, dtype=torch.float32, attn_implementation="eager").eval()
    thinker = ref.thinker
    prepared, results = {}, {}
    for name in [n for n, _, _ in IMAGE_CASES] + [VIDEO_CASE[0]]:
        texts = OMNI_TEXTS["video" if name == VIDEO_CASE[0] else
                           "question" if name.startswith("question") else "describe"]
        tries = []
        for user in texts:
            p = omni_prepare(tok, improc, vproc, name, user)
            if p["kind"] == "image":
                check_pixels(name, p, OMNI_IMAGE["size"]["shortest_edge"],
                             OMNI_IMAGE["size"]["longest_edge"], False)
            else:
                check_pixels(name, p, OMNI_VIDEO["size"]["shortest_edge"],
                             OMNI_VIDEO["size"]["longest_edge"], False)
            r = omni_run_case(thinker, p["inputs"], f"omni {name} '{user}'")
            if not isinstance(r, str):
                break
            tries.append(r)
            print(r, "- trying the next text", flush=True)
        else:
            sys.exit(f"omni {name}: no user text passed (weights are fixed, no reseeding)")
        r[2]["user_text_tries"] = tries
        prepared[name], results[name] = p, r
    tensors, cases, extra = {}, [], []
    for name, p in prepared.items():
        inputs, kind = p["inputs"], p["kind"]
        pix = inputs["pixel_values" if kind == "image" else "pixel_values_videos"]
        grid = inputs["image_grid_thw" if kind == "image" else "video_grid_thw"][0].tolist()
        with torch.no_grad():
            out = (thinker.get_image_features(pix, inputs["image_grid_thw"]) if kind == "image" else
                   thinker.get_video_features(pix, inputs["video_grid_thw"]))
        vis = torch.cat(list(out.pooler_output))
        n_tok = grid[0] * grid[1] * grid[2] // 4
        assert vis.shape == (n_tok, mag.TEXT_HIDDEN)
        with safe_open(os.path.join(VL_DIR, "golden.safetensors"), "pt") as f:
            vl_pix = f.get_tensor(f"pixels_{name}")
        if vl_pix.shape == pix.shape and torch.equal(vl_pix, pix):
            where = {"file": "../qwen3-vl/golden.safetensors", "tensor": f"pixels_{name}"}
        else:
            tensors[f"vision_pixels_{name}"] = pix
            where = {"file": "golden.safetensors", "tensor": f"vision_pixels_{name}"}
        tensors[f"vision_{name}"] = vis
        for k, d in enumerate(out.deepstack_features):
            tensors[f"vision_deepstack_{name}_{k}"] = torch.cat(list(d))
        greedy, logits, st = results[name]
        extra += greedy
        rec = case_record(name, p, greedy, st, tok, n_tok, grid)
        rec["pixels"] = where
        if kind == "video":
            rec["video_second_per_grid"] = p["video_second_per_grid"]
        cases.append(rec)
    subset = mg.subset_ids(extra)
    sel = torch.tensor(subset)
    for name in prepared:
        logits = results[name][1]
        tensors[f"vision_logits_first_{name}"] = logits[0]
        tensors[f"vision_logits_steps_{name}"] = logits[:, sel]
    if set(tensors) & set(old):
        sys.exit("omni: new tensor names collide with the audio ones")
    golden["vision_cases"] = cases
    golden["vision_subset_ids"] = subset
    golden["vision_processors"] = {
        "image": dict(OMNI_IMAGE, class_used=improc_name),
        "video": dict(OMNI_VIDEO, class_used=vproc_name, do_sample_frames=False, fps=CLIP_FPS),
        "prompt_source": "string built as spec 3.4/4.6 (vision block first, then the text) and "
                         "tokenized; no timestamps for Omni video"}
    mag.write_golden(OMNI_DIR, golden, dict(old, **tensors))
    with open(gpath, encoding="utf-8") as f:
        new_text = f.read()
    back = load_file(tpath)
    if any(not torch.equal(back[k], v) for k, v in old.items()):
        sys.exit("omni: existing tensors changed")
    if not new_text.startswith(old_text.split('\n  "vision_cases"')[0].rstrip("\n}").rstrip()):
        sys.exit("omni: existing golden.json entries changed")
    print(f"omni vision: margins {[round(c['min_margin'], 4) for c in cases]}, "
          f"router {[round(c['min_router_margin'], 4) for c in cases]}", flush=True)


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    transformers.logging.set_verbosity_error()
    what = sys.argv[1:] or ["images", "vl", "vlmoe", "omni"]
    if "images" in what:
        make_images()
    if "vl" in what:
        make_vl(VL_DIR, False, 8000)
    if "vlmoe" in what:
        make_vl(VLMOE_DIR, True, 8100)
    if "omni" in what:
        make_omni_vision()


if __name__ == "__main__":
    main()
