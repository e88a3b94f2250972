#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Regenerates rope-fixture.json: RoPE inv_freq tables and attention factors
# computed by transformers for a few Qwen3 configs (development only; the C
# test reads the committed JSON and needs no torch).
import json

import transformers
from transformers import Qwen3Config
from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

BASE = dict(vocab_size=64, hidden_size=64, intermediate_size=128, num_hidden_layers=1,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=131072)

CASES = {
    "default": dict(head_dim=128, rope_theta=1000000.0),
    "linear": dict(head_dim=64, rope_theta=10000.0,
                   rope_scaling={"rope_type": "linear", "factor": 2.5}),
    "yarn-qwen3": dict(head_dim=128, rope_theta=1000000.0,
                       rope_scaling={"rope_type": "yarn", "factor": 4.0,
                                     "original_max_position_embeddings": 32768}),
    "yarn-custom": dict(head_dim=64, rope_theta=5000000.0,
                        rope_scaling={"rope_type": "yarn", "factor": 8.0,
                                      "original_max_position_embeddings": 8192,
                                      "beta_fast": 16, "beta_slow": 2, "truncate": False,
                                      "attention_factor": 1.25}),
}


def main():
    out = {"transformers": transformers.__version__, "cases": []}
    for name, extra in CASES.items():
        cfg_dict = dict(BASE, **extra, architectures=["Qwen3ForCausalLM"], model_type="qwen3")
        cfg = Qwen3Config(**{k: v for k, v in cfg_dict.items() if k != "architectures"})
        rope_type = cfg.rope_parameters["rope_type"]
        if rope_type == "default":
            from transformers.models.qwen3.modeling_qwen3 import Qwen3RotaryEmbedding
            inv, scale = Qwen3RotaryEmbedding.compute_default_rope_parameters(cfg)
        else:
            inv, scale = ROPE_INIT_FUNCTIONS[rope_type](cfg)
        out["cases"].append({"name": name, "config": cfg_dict,
                             "inv_freq": [float(x) for x in inv.tolist()],
                             "attention_factor": float(scale)})
    with open("rope-fixture.json", "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
