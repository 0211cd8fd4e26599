#!/usr/bin/env python3
"""PyTorch reference fixtures for tests/test_engine_ref.c.

Regenerate (needs torch + transformers + safetensors; CI never runs this, it uses the committed files):

    .venv-bench/bin/python tests/make_fixtures.py   (after tests/bench/setup_peers.sh)

For each small random model it writes tests/fixtures/<name>/ with
  config.json, model.safetensors      transformers save_pretrained (fp32 safetensors)
  reference.safetensors               everything the C test compares against:
    tokens        (B, T) int32   row 1 is right-padded after LEN1 tokens with token 0
    lengths       (B,)   int32
    config.int    [arch(0 qwen2, 1 llama), V, C, I, L, H, KV, D, qkv_bias, tie]  int32
    config.float  [rope_theta, rms_norm_eps]  float32
    logits        (B, T, V)  fp32, raw (temperature 1)
    loss          ()         mean CE over next tokens (labels -100 on padding), as HF computes it
    grad.<name>   d loss / d param for every parameter under its HF name (tied: embed only)
    temp.logp     (B, T-1)   log softmax(logits/TEMP)[t] at token t+1
    temp.entropy  (B, T-1)   entropy of softmax(logits/TEMP)[t]
    temp.sumsq    (B, T-1)   sum_v p_v^2 of that distribution
    hnorm         (B, T)     ||final-normed hidden state||_2
    adam.loss     (6,)       loss before each of 5 AdamW steps and after the last
    adam.gradnorm (5,)       pre-clip global grad norm of each step (clip_grad_norm_ max 1.0)
AdamW: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 0.1 on ALL parameters (as verl).
"""
import json
import os

import torch
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

B, T, LEN1, TEMP = 2, 12, 9, 0.7
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")

CONFIGS = {
    # Qwen2: q/k/v bias, grouped-query attention (4 query heads share 2 KV heads), untied head
    "qwen2_gqa": dict(arch="qwen2", hidden=32, inter=64, heads=4, kv=2, tie=False, theta=10000.0, eps=1e-6),
    # Qwen2: q/k/v bias, plain multi-head attention, tied embeddings, large theta
    "qwen2_tied": dict(arch="qwen2", hidden=48, inter=96, heads=4, kv=4, tie=True, theta=1000000.0, eps=1e-6),
    # LLaMA: no bias, GQA, untied
    "llama_gqa": dict(arch="llama", hidden=64, inter=96, heads=4, kv=2, tie=False, theta=500000.0, eps=1e-5),
    # LLaMA: no bias, plain attention, tied
    "llama_tied": dict(arch="llama", hidden=32, inter=80, heads=4, kv=4, tie=True, theta=10000.0, eps=1e-5),
}


def build(c, seed):
    common = dict(vocab_size=128, hidden_size=c["hidden"], intermediate_size=c["inter"], num_hidden_layers=2,
                  num_attention_heads=c["heads"], num_key_value_heads=c["kv"], max_position_embeddings=64,
                  rope_theta=c["theta"], rms_norm_eps=c["eps"], tie_word_embeddings=c["tie"],
                  initializer_range=0.1, bos_token_id=1, eos_token_id=2, torch_dtype="float32")
    torch.manual_seed(seed)
    if c["arch"] == "qwen2":
        cfg = Qwen2Config(**common, use_sliding_window=False)
        model = Qwen2ForCausalLM(cfg)
    else:
        cfg = LlamaConfig(**common, attention_bias=False, mlp_bias=False)
        model = LlamaForCausalLM(cfg)
    # Norm weights and biases are 1 / 0 after init: perturb them so their gradients are non-trivial.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1:
                p.add_(0.2 * torch.randn_like(p))
    return cfg, model.float().eval()


def batch(seed):
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(3, 128, (B, T), generator=g)
    tokens[1, LEN1:] = 0
    labels = tokens.clone()
    labels[1, LEN1:] = -100
    return tokens, labels


def main():
    os.makedirs(ROOT, exist_ok=True)
    for i, (name, c) in enumerate(CONFIGS.items()):
        cfg, model = build(c, 100 + i)
        out = os.path.join(ROOT, name)
        model.save_pretrained(out, safe_serialization=True)
        tokens, labels = batch(200 + i)
        ref = {"tokens": tokens.to(torch.int32), "lengths": torch.tensor([T, LEN1], dtype=torch.int32)}
        D = c["hidden"] // c["heads"]
        ref["config.int"] = torch.tensor([0 if c["arch"] == "qwen2" else 1, 128, c["hidden"], c["inter"], 2,
                                          c["heads"], c["kv"], D, 1 if c["arch"] == "qwen2" else 0,
                                          1 if c["tie"] else 0], dtype=torch.int32)
        ref["config.float"] = torch.tensor([c["theta"], c["eps"]], dtype=torch.float32)

        model.zero_grad()
        res = model(input_ids=tokens, labels=labels, output_hidden_states=True)
        res.loss.backward()
        ref["logits"] = res.logits.detach().contiguous()
        ref["loss"] = res.loss.detach().reshape(())
        for pname, p in model.named_parameters():
            ref["grad." + pname] = p.grad.detach().clone().contiguous()
        with torch.no_grad():
            h = model.model(input_ids=tokens).last_hidden_state  # after the final RMSNorm
            ref["hnorm"] = h.norm(dim=-1).contiguous()
            z = (res.logits[:, :-1] / TEMP).double()
            logp = torch.log_softmax(z, dim=-1)
            p = logp.exp()
            ref["temp.logp"] = logp.gather(-1, tokens[:, 1:, None])[..., 0].float().contiguous()
            ref["temp.entropy"] = (-(p * logp).sum(-1)).float().contiguous()
            ref["temp.sumsq"] = (p * p).sum(-1).float().contiguous()

        # 5 AdamW steps with clipping, from the same initial weights
        _, m2 = build(c, 100 + i)
        m2.train()  # no dropout in these models; train() only to mirror a training loop
        opt = torch.optim.AdamW(m2.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1)
        losses, norms = [], []
        for _ in range(5):
            opt.zero_grad()
            loss = m2(input_ids=tokens, labels=labels).loss
            losses.append(loss.item())
            loss.backward()
            norms.append(torch.nn.utils.clip_grad_norm_(m2.parameters(), 1.0).item())
            opt.step()
        with torch.no_grad():
            losses.append(m2(input_ids=tokens, labels=labels).loss.item())
        ref["adam.loss"] = torch.tensor(losses, dtype=torch.float32)
        ref["adam.gradnorm"] = torch.tensor(norms, dtype=torch.float32)
        save_file(ref, os.path.join(out, "reference.safetensors"), metadata={"temperature": str(TEMP)})
        print(name, "loss", res.loss.item(), "adam", [round(x, 5) for x in losses], "norms", [round(x, 4) for x in norms])
    for name in CONFIGS:
        # transformers 5 writes rope_theta only inside "rope_parameters"; also write the top-level key
        # that transformers 4 (and most hub checkpoints, e.g. Qwen2.5) use, so the fixtures load the same
        # with readers of either convention. transformers 5 still reads rope_parameters.
        cj = os.path.join(ROOT, name, "config.json")
        with open(cj) as f:
            conf = json.load(f)
        conf["rope_theta"] = conf.get("rope_parameters", {}).get("rope_theta", conf.get("rope_theta"))
        with open(cj, "w") as f:
            json.dump(conf, f, indent=2, sort_keys=True)
            f.write("\n")
        # generation_config.json is irrelevant to the engine; drop it to keep the fixtures minimal
        gc = os.path.join(ROOT, name, "generation_config.json")
        if os.path.exists(gc):
            os.remove(gc)


if __name__ == "__main__":
    main()
