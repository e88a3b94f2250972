#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Regenerate the audio golden fixtures of tests/golden (development tool only).

Writes
  audio/{speech,tones,short}.wav   clips made with espeak-ng and sox (audio/README.md)
  qwen3-omni-thinker/              tiny Qwen3OmniMoeForConditionalGeneration (thinker only,
                                   laid out like the Captioner snapshot) + golden.json/.safetensors
  qwen3-asr/                       tiny Qwen3ASRForConditionalGeneration ("-hf" layout) + golden
  mrope.json                       get_rope_index of the Omni thinker and of Qwen3-VL on
                                   synthetic prompts
The helpers shared with the text fixtures come from make_golden.py. Needs torch +
transformers, espeak-ng and sox; CI never runs it.

    python3 tests/golden/make_audio_golden.py
"""

import gc
import json
import os
import shutil
import subprocess
import sys
import wave

import numpy as np
import torch
import transformers
from safetensors.torch import save_file
from transformers import (AutoTokenizer, GenerationConfig, Qwen3ASRConfig,
                          Qwen3ASRFeatureExtractor, Qwen3ASRForConditionalGeneration,
                          Qwen3ASRProcessor, Qwen3OmniMoeConfig,
                          Qwen3OmniMoeForConditionalGeneration, WhisperFeatureExtractor)

import make_golden as mg

HERE = mg.HERE
AUDIO_DIR = os.path.join(HERE, "audio")
OMNI_DIR = os.path.join(HERE, "qwen3-omni-thinker")
ASR_DIR = os.path.join(HERE, "qwen3-asr")
SR = 16000

# ------------------------------------------------------------------ clips

SPEECH_TEXT = "The quick brown fox jumps over the lazy dog near GStreamer."
CLIPS = {
    # name: (list of commands, exact number of samples)
    "speech": ([["espeak-ng", "-v", "en-us", "-s", "200", "-w", "{tmp}", SPEECH_TEXT],
                ["sox", "-R", "{tmp}", "-c", "1", "-b", "16", "-e", "signed-integer", "{out}",
                 "rate", "16000", "pad", "0", "1", "trim", "0", "52800s"]], 52800),
    "tones": ([["sox", "-R", "-n", "-r", "16000", "-c", "1", "-b", "16", "-e", "signed-integer",
                "{out}", "synth", "1.5", "sine", "440", "synth", "1.5", "pinknoise", "mix",
                "gain", "-6"]], 24000),
    "short": ([["sox", "-R", "-n", "-r", "16000", "-c", "1", "-b", "16", "-e", "signed-integer",
                "{out}", "synth", "0.37", "sine", "300:900", "gain", "-3"]], 5920),
}


def tool_versions():
    esp = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True).stdout.strip()
    sox = subprocess.run(["sox", "--version"], capture_output=True, text=True).stdout.strip()
    return esp, sox.replace("sox:", "").strip()


def make_clips():
    os.makedirs(AUDIO_DIR, exist_ok=True)
    tmp = os.path.join(AUDIO_DIR, "tmp-espeak.wav")
    rendered = {}
    for name, (cmds, n) in CLIPS.items():
        out = os.path.join(AUDIO_DIR, name + ".wav")
        rendered[name] = []
        for cmd in cmds:
            cmd = [c.replace("{tmp}", tmp).replace("{out}", out) for c in cmd]
            subprocess.run(cmd, check=True)
            rendered[name].append(" ".join(
                (f'"{c}"' if " " in c else c).replace(AUDIO_DIR + "/", "") for c in cmd))
        if os.path.exists(tmp):
            os.remove(tmp)
        os.chmod(out, 0o644)
        if read_wav(out).shape[0] != n:
            sys.exit(f"{out}: expected {n} samples")
    esp, sox = tool_versions()
    lines = ["# Audio clips for the audio golden fixtures", "",
             "16 kHz mono signed 16-bit PCM WAV, made by `make_audio_golden.py` with",
             f"espeak-ng ({esp}) and sox ({sox}); `sox -R` makes the noise repeatable.",
             "The models read them as float32 = s16 / 32768 (no resampling).", ""]
    for name, (_, n) in CLIPS.items():
        lines.append(f"## {name}.wav ({n} samples, {n / SR:.3f} s)")
        lines.append("")
        lines += ["    " + c for c in rendered[name]]
        lines.append("")
    lines += [
        "speech.wav: 330 mel frames = chunks of 100+100+100+30 frames, 43 audio tokens,",
        "two 26-token attention windows in the tiny configs (n_window_infer 200).",
        "tones.wav: 150 frames, chunks 100+50, 20 tokens.",
        "short.wav: shorter than one chunk. WhisperFeatureExtractor (Omni): 37 frames, 5",
        "tokens. Qwen3ASRFeatureExtractor zero-pads clips shorter than min_length = 8000",
        "samples first: 50 frames, 7 tokens.",
    ]
    mg.write_text(os.path.join(AUDIO_DIR, "README.md"), "\n".join(lines) + "\n")


def read_wav(path):
    with wave.open(path, "rb") as w:
        assert w.getframerate() == SR and w.getnchannels() == 1 and w.getsampwidth() == 2
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return data.astype(np.float32) / 32768.0


# ----------------------------------------------------------------- weights

INIT = {"embed_std": 1.0, "linear_gain": 3.0, "router_gain": 2.0, "bias_std": 0.1,
        "audio_gain": 1.5}


def init_weights(model, seed, scale=1.0):
    """Re-draw every parameter from one generator (same recipe as make_golden,
    extended to biases, LayerNorm, conv and fused expert tensors)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(".bias"):
                p.copy_(torch.randn(p.shape, generator=g) * INIT["bias_std"])
            elif p.ndim == 1:
                p.copy_(torch.empty(p.shape).uniform_(mg.NORM_LOW, mg.NORM_HIGH, generator=g))
            elif "embed_tokens" in name:
                p.copy_(torch.randn(p.shape, generator=g) * INIT["embed_std"])
            else:
                if name.endswith("mlp.gate.weight"):
                    gain = INIT["router_gain"]
                elif "audio_tower" in name or "visual" in name or "projector" in name:
                    gain = INIT["audio_gain"]
                else:
                    gain = INIT["linear_gain"] * scale
                fan_in = p.shape[-1] if p.ndim != 4 else int(np.prod(p.shape[1:]))
                if p.ndim == 5:
                    fan_in = int(np.prod(p.shape[1:]))
                p.copy_(torch.randn(p.shape, generator=g) * gain / fan_in ** 0.5)


# f32 weights, so both backends can be held to 1e-4 (the cuda backend rounds
# activations to bf16 for bf16 weights); hidden 8 keeps the 151,936-row
# embedding at 4.9 MB.
TEXT_HIDDEN = 8


def tiny_audio_config(layers, out_dim):
    return dict(num_mel_bins=128, encoder_layers=layers, encoder_attention_heads=2,
                encoder_ffn_dim=32, d_model=16, activation_function="gelu",
                n_window=50, n_window_infer=200, downsample_hidden_size=8,
                output_dim=out_dim, scale_embedding=False)


def omni_config():
    audio = tiny_audio_config(3, TEXT_HIDDEN)
    audio.update(max_source_positions=1500, conv_chunksize=500)
    text = dict(vocab_size=mg.VOCAB, hidden_size=TEXT_HIDDEN, intermediate_size=32, head_dim=16,
                num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                hidden_act="silu", max_position_embeddings=65536, rms_norm_eps=1e-6,
                rope_parameters={"rope_type": "default", "rope_theta": 1000000.0,
                                 "mrope_section": [4, 2, 2], "interleaved": True,
                                 "mrope_interleaved": True},
                attention_bias=False, decoder_sparse_step=1, moe_intermediate_size=16,
                num_experts=8, num_experts_per_tok=2, norm_topk_prob=True,
                mlp_only_layers=[], tie_word_embeddings=True)
    vision = dict(depth=1, hidden_size=16, hidden_act="gelu_pytorch_tanh", intermediate_size=16,
                  num_heads=2, in_channels=3, patch_size=16, spatial_merge_size=2,
                  temporal_patch_size=2, out_hidden_size=TEXT_HIDDEN, num_position_embeddings=4,
                  deepstack_visual_indexes=[0])
    thinker = dict(audio_config=audio, vision_config=vision, text_config=text,
                   audio_token_id=151675, audio_start_token_id=151669,
                   audio_end_token_id=151670, image_token_id=151655, video_token_id=151656,
                   vision_start_token_id=151652, vision_end_token_id=151653,
                   position_id_per_seconds=13, seconds_per_chunk=2, user_token_id=872,
                   tie_word_embeddings=True)
    return Qwen3OmniMoeConfig(thinker_config=thinker, enable_audio_output=False,
                              architectures=["Qwen3OmniMoeForConditionalGeneration"])


def asr_config():
    audio = tiny_audio_config(4, TEXT_HIDDEN)
    text = dict(vocab_size=mg.VOCAB, hidden_size=TEXT_HIDDEN, intermediate_size=32, head_dim=16,
                num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                hidden_act="silu", max_position_embeddings=65536, rms_norm_eps=1e-6,
                rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
                attention_bias=False, tie_word_embeddings=True, model_type="qwen3")
    return Qwen3ASRConfig(audio_config=dict(audio, model_type="qwen3_asr_encoder"),
                          text_config=text, audio_token_id=151676, tie_word_embeddings=True,
                          architectures=["Qwen3ASRForConditionalGeneration"])


# -------------------------------------------------------------- snapshots

OMNI_AUDIO_TOKENS = [(151669, "<|audio_start|>"), (151670, "<|audio_end|>"), (151671, "<tts_pad>"),
                     (151672, "<tts_text_bos>"), (151673, "<tts_text_eod>"),
                     (151674, "<tts_text_bos_single>"), (151675, "<|audio_pad|>")]
# Qwen3-ASR: ids from third-party loaders of the released tokenizer_config.json
# (audio_pad = config audio_token_id 151676, <asr_text> 151704, <timestamp> =
# config timestamp_token_id 151705); <asr_text> is not special (the processor's
# parser finds it after decode(skip_special_tokens=True)).
ASR_AUDIO_TOKENS = [(151669, "<|audio_start|>", True), (151670, "<|audio_end|>", True),
                    (151676, "<|audio_pad|>", True), (151704, "<asr_text>", False),
                    (151705, "<timestamp>", True)]
# transformers gives added tokens missing from tokenizer.json the next free ids,
# so the gaps must be filled for the ids above to land where they belong. The
# fillers are NOT the released contents (unknown here): 151671-151674 as in
# Qwen3-Omni, the rest "<|asr_filler_N|>".
ASR_AUDIO_TOKENS = sorted(ASR_AUDIO_TOKENS + OMNI_AUDIO_TOKENS[2:6] + [
    (i, f"<|asr_filler_{i}|>", True) for i in [151675] + list(range(151677, 151704))])

# Qwen3-ASR prompt (qwen-asr package: a system turn holding the context, empty
# when none, then the user turn with the audio, then the assistant turn). The
# last assistant message is left open so continue_final_message can prefill
# "language X<asr_text>".
ASR_CHAT_TEMPLATE = (
    "{%- set ns = namespace(system='') -%}"
    "{%- for m in messages if m.role == 'system' -%}"
    "{%- if m.content is string -%}{%- set ns.system = ns.system + m.content -%}"
    "{%- else -%}{%- for c in m.content if c.type == 'text' -%}"
    "{%- set ns.system = ns.system + c.text -%}{%- endfor -%}{%- endif -%}"
    "{%- endfor -%}"
    "{{- '<|im_start|>system\\n' + ns.system + '<|im_end|>\\n' -}}"
    "{%- for m in messages if m.role != 'system' -%}"
    "{{- '<|im_start|>' + m.role + '\\n' -}}"
    "{%- if m.content is string -%}{{- m.content -}}"
    "{%- else -%}{%- for c in m.content -%}"
    "{%- if c.type == 'audio' -%}{{- '<|audio_start|><|audio_pad|><|audio_end|>' -}}"
    "{%- elif c.type == 'text' -%}{{- c.text -}}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{%- if not (loop.last and m.role == 'assistant') -%}{{- '<|im_end|>\\n' -}}{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}")


def added_token(content, special=True):
    return {"content": content, "lstrip": False, "normalized": False, "rstrip": False,
            "single_word": False, "special": special}


def write_tokenizer_config(model_dir, tokens, extra=None):
    with open(os.path.join(mg.TOK_DIR, "tokenizer_config.json")) as f:
        cfg = json.load(f)
    for t in tokens:
        cfg["added_tokens_decoder"][str(t[0])] = added_token(t[1], t[2] if len(t) > 2 else True)
    cfg.update(extra or {})
    mg.write_json(os.path.join(model_dir, "tokenizer_config.json"), cfg)


def link_tokenizer_json(model_dir):
    link = os.path.join(model_dir, "tokenizer.json")
    if os.path.lexists(link):
        os.remove(link)
    os.symlink(os.path.join("..", "tokenizer", "tokenizer.json"), link)


def omni_preprocessor_config():
    # The audio part of the released Qwen3-Omni preprocessor_config.json
    # (WhisperFeatureExtractor, 30000-frame chunk_length 300).
    return {"chunk_length": 300, "dither": 0.0, "feature_extractor_type": "WhisperFeatureExtractor",
            "feature_size": 128, "hop_length": 160, "n_fft": 400, "n_samples": 4800000,
            "nb_max_frames": 30000, "padding_side": "right", "padding_value": 0.0,
            "processor_class": "Qwen3OmniMoeProcessor", "return_attention_mask": True,
            "sampling_rate": 16000}


def prepare_tokenizer(model_dir, tokens, extra=None):
    """Write the snapshot's tokenizer files and load them as transformers would."""
    mg.clean_model_dir(model_dir)
    write_tokenizer_config(model_dir, tokens, extra)
    link_tokenizer_json(model_dir)
    return AutoTokenizer.from_pretrained(model_dir)


def save_model(model, model_dir, shards, max_shard_size, gen, tokens, extra=None):
    mg.clean_model_dir(model_dir)
    write_tokenizer_config(model_dir, tokens, extra)
    model.generation_config = gen
    if shards > 1:
        model.save_pretrained(model_dir, max_shard_size=max_shard_size)
    else:
        model.save_pretrained(model_dir)
    link_tokenizer_json(model_dir)
    if os.path.exists(os.path.join(model_dir, "chat_template.jinja")):
        sys.exit(f"{model_dir}: unexpected chat_template.jinja from save_pretrained")


def check_files(model_dir, shards, want_prefixes, forbidden):
    t = mg.saved_tensors(model_dir)
    files = sorted({f for f, _, _ in t.values()})
    if len(files) != shards:
        sys.exit(f"{model_dir}: {len(files)} safetensors files, expected {shards}")
    if any(d != "F32" for _, _, d in t.values()):
        sys.exit(f"{model_dir}: not all tensors are F32")
    bad = [k for k in t if not k.startswith(want_prefixes) or any(x in k for x in forbidden)]
    if bad:
        sys.exit(f"{model_dir}: unexpected tensor names {bad[:5]}")
    return t


# ---------------------------------------------------------------- running

def gen_config_for_run():
    return GenerationConfig(do_sample=False, max_new_tokens=mg.STEPS, min_new_tokens=mg.STEPS,
                            eos_token_id=list(mg.EOS_IDS), pad_token_id=mg.PAD_ID,
                            return_dict_in_generate=True, output_logits=True)


def generate(model, inputs):
    n = inputs["input_ids"].shape[1]
    with torch.no_grad():
        out = model.generate(**inputs, generation_config=gen_config_for_run())
    greedy = out.sequences[0, n:].tolist()
    logits = torch.stack(out.logits)[:, 0, :].float()
    assert logits.shape == (mg.STEPS, mg.VOCAB) and len(greedy) == mg.STEPS
    return greedy, logits


def check_case(model, inputs, greedy, logits, label):
    if logits.argmax(-1).tolist() != greedy:
        return f"{label}: greedy id is not the raw argmax"
    m = float(mg.margins(logits).min())
    if m < mg.MIN_MARGIN:
        return f"{label}: min greedy margin {m:.3g}"
    with torch.no_grad():
        first = model(**inputs, use_cache=False).logits[0, -1].float()
    d0 = mg.rel_diff(first[None], logits[:1])
    if d0 > 1e-5:
        return f"{label}: step 0 differs from a plain forward ({d0:.3g})"
    return {"min_margin": m, "step0_vs_forward_rel_diff": d0}


def router_margin_omni(thinker, inputs):
    gaps = []

    def hook(mod, _inp, out):
        srt = torch.sort(out[0].float(), dim=-1, descending=True).values
        gaps.append(srt[:, mod.top_k - 1] - srt[:, mod.top_k])

    hs = [layer.mlp.gate.register_forward_hook(hook)
          for layer in thinker.model.language_model.layers if hasattr(layer.mlp, "gate")]
    with torch.no_grad():
        thinker(**inputs, use_cache=False)
    for h in hs:
        h.remove()
    return float(torch.cat(gaps).min())


def clip_entry(name, n_samples, n_frames, n_tokens):
    return {"name": name, "file": f"../audio/{name}.wav", "n_samples": n_samples,
            "n_frames": n_frames, "n_audio_tokens": n_tokens}


def write_golden(model_dir, golden, tensors):
    save_file({k: v.float().contiguous() for k, v in tensors.items()},
              os.path.join(model_dir, "golden.safetensors"), metadata={"format": "pt"})
    mg.write_json(os.path.join(model_dir, "golden.json"), golden)
    for f in os.listdir(model_dir):
        path = os.path.join(model_dir, f)
        if not os.path.islink(path):
            os.chmod(path, 0o644)


def base_golden(seed):
    return {"transformers": transformers.__version__, "torch": torch.__version__.split("+")[0],
            "seed": seed, "steps": mg.STEPS, "subset_seed": mg.SUBSET_SEED, "rel_tol": mg.REL_TOL,
            "compute": "f32 weights and compute, eager attention, CPU, 1 thread"}


# ------------------------------------------------------------------ omni

def omni_prompt_ids(tok, n_tokens):
    """Spec 3.4 caption prompt: no system, one audio item, no text. Built as
    a string (the tiny snapshot ships no Omni chat template) and tokenized."""
    text = ("<|im_start|>user\n<|audio_start|>" + "<|audio_pad|>" * n_tokens +
            "<|audio_end|><|im_end|>\n<|im_start|>assistant\n")
    ids = tok.encode(text, add_special_tokens=False)
    assert ids.count(151675) == n_tokens and ids[:3] == [151644, 872, 198]
    return text, ids


def omni_features(fe, clips):
    feats = fe([c for c in clips], sampling_rate=SR, padding=True, truncation=False,
               return_attention_mask=True, return_tensors="pt")
    return feats["input_features"], feats["attention_mask"]


def make_omni(base_seed, clips):
    from transformers.models.qwen3_omni_moe.modeling_qwen3_omni_moe import \
        _get_feat_extract_output_lengths as out_len
    fe = WhisperFeatureExtractor(**{k: v for k, v in omni_preprocessor_config().items()
                                    if k not in ("feature_extractor_type", "processor_class",
                                                 "n_samples", "nb_max_frames")})
    names = ["speech", "tones"]
    tok = prepare_tokenizer(OMNI_DIR, OMNI_AUDIO_TOKENS)
    for i, content in OMNI_AUDIO_TOKENS:
        assert tok.convert_tokens_to_ids(content) == i, content
    per_clip = {}
    for c in names:
        mel, mask = omni_features(fe, [clips[c]])
        n = int(out_len(mask.sum(-1), 50)[0])
        text, ids = omni_prompt_ids(tok, n)
        per_clip[c] = (mel, mask, n, text, ids)
    for seed in range(base_seed, base_seed + mg.MAX_SEED_TRIES):
        torch.manual_seed(seed)
        model = Qwen3OmniMoeForConditionalGeneration(omni_config())
        init_weights(model, seed)
        gen = mg.generation_config()
        save_model(model, OMNI_DIR, 2, "2MB", gen, OMNI_AUDIO_TOKENS)
        ref = Qwen3OmniMoeForConditionalGeneration.from_pretrained(
            OMNI_DIR, dtype=torch.float32, attn_implementation="eager").eval()
        thinker = ref.thinker
        results, fail = {}, None
        for c in names:
            mel, mask, n, text, ids = per_clip[c]
            inputs = {"input_ids": torch.tensor([ids]), "attention_mask": torch.ones(1, len(ids), dtype=torch.long),
                      "input_features": mel, "feature_attention_mask": mask}
            greedy, logits = generate(thinker, inputs)
            st = check_case(thinker, inputs, greedy, logits, f"omni seed {seed} {c}")
            if isinstance(st, str):
                fail = st
                break
            full = dict(inputs, input_ids=torch.tensor([ids + greedy[:-1]]),
                        attention_mask=torch.ones(1, len(ids) + mg.STEPS - 1, dtype=torch.long))
            st["min_router_margin"] = router_margin_omni(thinker, full)
            if st["min_router_margin"] < mg.MIN_ROUTER_MARGIN:
                fail = f"omni seed {seed} {c}: router margin {st['min_router_margin']:.3g}"
                break
            results[c] = (inputs, greedy, logits, st)
        if fail is None:
            break
        print(fail, "- trying the next seed", flush=True)
        del model, ref
        gc.collect()
    else:
        sys.exit("omni: no seed passed")

    t = check_files(OMNI_DIR, 2, ("thinker.",), ("talker", "code2wav"))
    names_on_disk = sorted(t)
    mg.write_json(os.path.join(OMNI_DIR, "preprocessor_config.json"), omni_preprocessor_config())

    tensors, cases, clip_list = {}, [], []
    extra = []
    with torch.no_grad():
        for c in names:
            mel, mask, n, text, ids = per_clip[c]
            tensors[f"mel_{c}"] = mel[0][:, mask[0].bool()]
            feats = thinker.get_audio_features(mel, mask).pooler_output
            assert feats.shape == (n, TEXT_HIDDEN)
            tensors[f"audio_{c}"] = feats
            clip_list.append(clip_entry(c, len(clips[c]), int(mask.sum()), n))
            extra += results[c][1]
        bmel, bmask = omni_features(fe, [clips["speech"], clips["tones"]])
        batch = thinker.get_audio_features(bmel, bmask).pooler_output
        tensors["audio_batch"] = batch
        single = torch.cat([tensors["audio_speech"], tensors["audio_tones"]])
        batch_diff = mg.rel_diff(batch, single)
    subset = mg.subset_ids(extra)
    sel = torch.tensor(subset)
    for c in names:
        inputs, greedy, logits, st = results[c]
        name = f"caption_{c}"
        tensors[f"logits_first_{name}"] = logits[0]
        tensors[f"logits_steps_{name}"] = logits[:, sel]
        cases.append({"name": name, "clip": c, "task": "caption", "language": None, "context": None,
                      "prompt_text": per_clip[c][3].replace("<|audio_pad|>" * per_clip[c][2],
                                                            "<|audio_pad|>x%d" % per_clip[c][2]),
                      "input_ids": per_clip[c][4], "greedy_ids": greedy,
                      "greedy_text": tok.decode(greedy, skip_special_tokens=True),
                      "min_margin": st["min_margin"], "min_router_margin": st["min_router_margin"],
                      "step0_vs_forward_rel_diff": st["step0_vs_forward_rel_diff"]})
    golden = base_golden(seed)
    golden.update({
        "model_type": "qwen3_omni_moe",
        "prompt_source": "string built per spec 3.4 and tokenized (no processor chat template)",
        "feature_extractor": "WhisperFeatureExtractor(padding=True, truncation=False, "
                             "return_attention_mask=True) as Qwen3OmniMoeProcessor calls it",
        "clips": clip_list, "cases": cases, "subset_ids": subset,
        "audio_batch": {"clips": ["speech", "tones"], "rows": [clip_list[0]["n_audio_tokens"],
                                                                clip_list[1]["n_audio_tokens"]],
                        "batch_vs_single_rel_diff": batch_diff},
        "tensor_names_on_disk": names_on_disk,
    })
    write_golden(OMNI_DIR, golden, tensors)
    print(f"omni: seed {seed}, margins {[x['min_margin'] for x in cases]}, "
          f"batch diff {batch_diff:.3g}", flush=True)


# ------------------------------------------------------------------- asr

ASR_TOKENIZER_EXTRA = {
    # tokenizer attributes Qwen3ASRProcessor reads (audio_token etc.)
    "extra_special_tokens": {"audio_token": "<|audio_pad|>", "audio_bos_token": "<|audio_start|>",
                             "audio_eos_token": "<|audio_end|>"},
    "chat_template": ASR_CHAT_TEMPLATE,
}
ASR_CASES = [("transcribe_speech", "speech", None, None),
             ("transcribe_speech_english", "speech", "English", None),
             ("transcribe_speech_context", "speech", None, "Hotwords: Qwen, GStreamer"),
             ("transcribe_short", "short", None, None)]


def asr_generation_config():
    return GenerationConfig(eos_token_id=[151643, 151645], pad_token_id=151645, do_sample=False)


def make_asr(base_seed, clips):
    tok = prepare_tokenizer(ASR_DIR, ASR_AUDIO_TOKENS, ASR_TOKENIZER_EXTRA)
    for i, content, *_ in ASR_AUDIO_TOKENS:
        assert tok.convert_tokens_to_ids(content) == i, content
    fe = Qwen3ASRFeatureExtractor()
    proc = Qwen3ASRProcessor(feature_extractor=fe, tokenizer=tok, chat_template=ASR_CHAT_TEMPLATE)
    prepared = {}
    for name, clip, lang, ctx in ASR_CASES:
        inputs = proc.apply_transcription_request(audio=clips[clip], language=lang, prompt=ctx)
        text = proc.apply_transcription_request(audio=clips[clip], language=lang, prompt=ctx,
                                                tokenize=False)
        prepared[name] = (dict(inputs), text[0] if isinstance(text, list) else text)
    for seed in range(base_seed, base_seed + mg.MAX_SEED_TRIES):
        torch.manual_seed(seed)
        model = Qwen3ASRForConditionalGeneration(asr_config())
        init_weights(model, seed)
        save_model(model, ASR_DIR, 1, None, asr_generation_config(), ASR_AUDIO_TOKENS,
                   ASR_TOKENIZER_EXTRA)
        ref = Qwen3ASRForConditionalGeneration.from_pretrained(
            ASR_DIR, dtype=torch.float32, attn_implementation="eager").eval()
        results, fail = {}, None
        for name, *_ in ASR_CASES:
            inputs = prepared[name][0]
            greedy, logits = generate(ref, inputs)
            st = check_case(ref, inputs, greedy, logits, f"asr seed {seed} {name}")
            if isinstance(st, str):
                fail = st
                break
            results[name] = (greedy, logits, st)
        if fail is None:
            break
        print(fail, "- trying the next seed", flush=True)
        del model, ref
        gc.collect()
    else:
        sys.exit("asr: no seed passed")
    t = check_files(ASR_DIR, 1, ("model.audio_tower.", "model.multi_modal_projector.",
                                 "model.language_model."), ("lm_head",))
    fe.save_pretrained(ASR_DIR)
    mg.write_text(os.path.join(ASR_DIR, "chat_template.jinja"), ASR_CHAT_TEMPLATE + "\n")

    tensors, cases, clip_list, extra = {}, [], {}, []
    with torch.no_grad():
        for name, clip, lang, ctx in ASR_CASES:
            inputs = prepared[name][0]
            mel, mask = inputs["input_features"], inputs["input_features_mask"]
            feats = ref.get_audio_features(mel, mask).pooler_output
            n = int((inputs["input_ids"][0] == 151676).sum())
            assert feats.shape == (n, TEXT_HIDDEN)
            tensors[f"mel_{clip}"] = mel[0][:, mask[0].bool()]
            tensors[f"audio_{clip}"] = feats
            clip_list[clip] = clip_entry(clip, len(clips[clip]), int(mask.sum()), n)
            extra += results[name][0]
        b = fe([clips["speech"], clips["short"]], sampling_rate=SR, padding=True, truncation=False,
               return_attention_mask=True, return_tensors="pt")
        batch = ref.get_audio_features(b["input_features"], b["attention_mask"]).pooler_output
        tensors["audio_batch"] = batch
        batch_diff = mg.rel_diff(batch, torch.cat([tensors["audio_speech"], tensors["audio_short"]]))
    subset = mg.subset_ids(extra)
    sel = torch.tensor(subset)
    for name, clip, lang, ctx in ASR_CASES:
        greedy, logits, st = results[name]
        tensors[f"logits_first_{name}"] = logits[0]
        tensors[f"logits_steps_{name}"] = logits[:, sel]
        inputs, text = prepared[name]
        n = clip_list[clip]["n_audio_tokens"]
        cases.append({"name": name, "clip": clip, "task": "transcribe", "language": lang,
                      "context": ctx,
                      "prompt_text": text.replace("<|audio_pad|>", "<|audio_pad|>x%d" % n, 1),
                      "input_ids": inputs["input_ids"][0].tolist(), "greedy_ids": greedy,
                      "greedy_text": tok.decode(greedy, skip_special_tokens=True),
                      "min_margin": st["min_margin"],
                      "step0_vs_forward_rel_diff": st["step0_vs_forward_rel_diff"]})
    golden = base_golden(seed)
    golden.update({
        "model_type": "qwen3_asr",
        "prompt_source": "Qwen3ASRProcessor.apply_transcription_request with this dir's "
                         "chat_template.jinja (prompt_text: the rendered template, pad unexpanded)",
        "feature_extractor": "Qwen3ASRFeatureExtractor (min_length 8000 samples, mel padded to a "
                             "multiple of 100 frames; mel_* tensors are the unpadded valid frames)",
        "clips": list(clip_list.values()), "cases": cases, "subset_ids": subset,
        "audio_batch": {"clips": ["speech", "short"],
                        "rows": [clip_list["speech"]["n_audio_tokens"],
                                 clip_list["short"]["n_audio_tokens"]],
                        "batch_vs_single_rel_diff": batch_diff},
        "tensor_names_on_disk": sorted(t),
    })
    write_golden(ASR_DIR, golden, tensors)
    print(f"asr: seed {seed}, margins {[x['min_margin'] for x in cases]}, "
          f"batch diff {batch_diff:.3g}", flush=True)


# ----------------------------------------------------------------- mrope

def pos_list(t):
    t = t.detach()
    if torch.is_floating_point(t) and torch.equal(t, t.round()):
        t = t.long()
    return t.tolist()


def omni_rope_cases(tok):
    enc = lambda s: tok.encode(s, add_special_tokens=False)
    head, tail = enc("<|im_start|>user\n"), enc("<|im_end|>\n<|im_start|>assistant\n")
    audio = lambda n: [151669] + [151675] * n + [151670]
    image = lambda n: [151652] + [151655] * n + [151653]
    video = lambda n: [151652] + [151656] * n + [151653]
    cases = [
        ("text_only", [head + enc("Describe the weather.") + tail], {}),
        ("audio_only", [head + audio(5) + tail], {"audio_seqlens": [37]}),
        ("text_image_text", [head + enc("Look:") + image(6) + enc("What is it?") + tail],
         {"image_grid_thw": [[1, 4, 6]]}),
        ("text_video_text", [head + enc("Watch:") + video(8) + enc("What happens?") + tail],
         {"video_grid_thw": [[2, 4, 4]], "second_per_grids": [1.0]}),
        ("audio_image", [head + audio(5) + image(6) + enc("Match them.") + tail],
         {"audio_seqlens": [37], "image_grid_thw": [[1, 4, 6]]}),
        ("batch_left_padded", [head + enc("Look:") + image(6) + enc("What is it?") + tail,
                               head + image(4) + tail],
         {"image_grid_thw": [[1, 4, 6], [1, 4, 4]]}),
    ]
    return cases


def left_pad(rows, pad_id):
    n = max(len(r) for r in rows)
    ids = [[pad_id] * (n - len(r)) + r for r in rows]
    mask = [[0] * (n - len(r)) + [1] * len(r) for r in rows]
    return ids, mask


def make_mrope():
    tok = AutoTokenizer.from_pretrained(OMNI_DIR)
    thinker = Qwen3OmniMoeForConditionalGeneration.from_pretrained(OMNI_DIR, dtype=torch.float32).thinker
    out = {"transformers": transformers.__version__,
           "note": "position_ids [3][B][T] (t, h, w); rope_deltas [B][1]. Omni: "
                   "Qwen3OmniMoeThinkerModel.get_rope_index of qwen3-omni-thinker/ (spatial_merge 2, "
                   "position_id_per_seconds 13); padding left as Qwen3OmniMoeProcessor pads "
                   "(pad id 151643, masked positions hold 1 as transformers leaves them when the "
                   "text-only branch runs, 0 in the multimodal branch)",
           "qwen3_omni": [], "qwen3_vl": []}
    for name, rows, args in omni_rope_cases(tok):
        ids, mask = left_pad(rows, mg.PAD_ID)
        kw = {}
        if "image_grid_thw" in args:
            kw["image_grid_thw"] = torch.tensor(args["image_grid_thw"])
        if "video_grid_thw" in args:
            kw["video_grid_thw"] = torch.tensor(args["video_grid_thw"])
            kw["second_per_grids"] = torch.tensor(args["second_per_grids"])
        if "audio_seqlens" in args:
            kw["audio_seqlens"] = torch.tensor(args["audio_seqlens"])
        pos, deltas = thinker.model.get_rope_index(torch.tensor(ids), attention_mask=torch.tensor(mask),
                                                   use_audio_in_video=False, **kw)
        out["qwen3_omni"].append(dict({"name": name, "input_ids": ids, "attention_mask": mask},
                                      **args, position_ids=pos_list(pos), rope_deltas=pos_list(deltas)))
    out["qwen3_vl"] = qwen3_vl_rope(tok)
    mg.write_json(os.path.join(HERE, "mrope.json"), out)


def qwen3_vl_rope(tok):
    from transformers import Qwen3VLConfig, Qwen3VLModel
    cfg = Qwen3VLConfig(
        vision_config=dict(depth=1, hidden_size=16, intermediate_size=16, num_heads=2,
                           out_hidden_size=16, num_position_embeddings=4, deepstack_visual_indexes=[0],
                           patch_size=16, spatial_merge_size=2, temporal_patch_size=2),
        text_config=dict(vocab_size=mg.VOCAB, hidden_size=16, intermediate_size=16, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, head_dim=8,
                         rope_parameters={"rope_type": "default", "rope_theta": 5e6,
                                          "mrope_section": [2, 1, 1], "mrope_interleaved": True}))
    model = Qwen3VLModel(cfg).eval()
    enc = lambda s: tok.encode(s, add_special_tokens=False)
    head, tail = enc("<|im_start|>user\n"), enc("<|im_end|>\n<|im_start|>assistant\n")
    image = lambda n: [151652] + [151655] * n + [151653]
    video = lambda n: [151652] + [151656] * n + [151653]
    # Qwen3-VL video prompt: one timestamp text + vision block per temporal grid step
    cases = [("text_image_text", head + enc("Look:") + image(6) + enc("What is it?") + tail,
              {"image_grid_thw": [[1, 4, 6]]}),
             ("text_video_text", head + enc("Watch:") + enc("<0.5 seconds>") + video(4) +
              enc("<1.5 seconds>") + video(4) + enc("What happens?") + tail,
              {"video_grid_thw": [[2, 4, 4]]})]
    res = []
    for name, ids, args in cases:
        types = [1 if i == 151655 else 2 if i == 151656 else 0 for i in ids]
        kw = {k: torch.tensor(v) for k, v in args.items()}
        pos, deltas = model.get_rope_index(torch.tensor([ids]), torch.tensor([types]),
                                           attention_mask=torch.ones(1, len(ids), dtype=torch.long), **kw)
        res.append(dict({"name": name, "input_ids": [ids], "mm_token_type_ids": [types],
                         "attention_mask": [[1] * len(ids)]}, **args,
                        position_ids=pos_list(pos), rope_deltas=pos_list(deltas)))
    return res


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    transformers.logging.set_verbosity_error()
    mg.install_tokenizer()
    make_clips()
    clips = {c: read_wav(os.path.join(AUDIO_DIR, c + ".wav")) for c in CLIPS}
    make_asr(7000, clips)
    make_omni(6000, clips)
    make_mrope()


if __name__ == "__main__":
    main()
