#!/usr/bin/env python3
"""PyTorch CPU eager peer of tests/bench/bench_sampling.c (same model shape, batch, lengths), run by
tests/bench/bench_sampling.sh in the environment tests/bench/setup_peers.sh makes; by hand:

    OMP_NUM_THREADS=2 .venv-bench/bin/python tests/bench/bench_sampling.py \
        [--C 256 --L 4 --H 4 --KV 4 --I 688 --V 128 --G 8 --prompt 32 --new 128 --reps 3 --threads 2]

Two baselines, both fp32 with a KV cache, temperature 1, no top-k/top-p, exactly N new tokens:
  generate: HF transformers model.generate(do_sample=True, use_cache=True) on G copies of the prompt
  loop:     a hand-written loop: prefill the G rows once, then one forward per step with
            past_key_values, softmax / multinomial sampling, and the token log-prob + entropy (what the
            C engine also returns)
tokens/s = G * N / wall time (prefill included), best of --reps; also tokens per CPU-second of the
process (all threads), steadier on a shared machine.
"""
import argparse
import time

import torch
from transformers import Qwen2Config, Qwen2ForCausalLM


def main():
    ap = argparse.ArgumentParser()
    for k, v in dict(C=256, L=4, H=4, KV=4, I=688, V=128, G=8, prompt=32, new=128, reps=3, threads=2).items():
        ap.add_argument("--" + k, type=int, default=v)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    cfg = Qwen2Config(vocab_size=a.V, hidden_size=a.C, intermediate_size=a.I, num_hidden_layers=a.L,
                      num_attention_heads=a.H, num_key_value_heads=a.KV, max_position_embeddings=4096,
                      tie_word_embeddings=False, use_sliding_window=False, bos_token_id=None,
                      eos_token_id=None, pad_token_id=None)
    model = Qwen2ForCausalLM(cfg).float().eval()
    nparam = sum(p.numel() for p in model.parameters())
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}; model V {a.V} C {a.C} I {a.I} L {a.L} "
          f"H {a.H} KV {a.KV} ({nparam / 1e6:.1f}M params); G {a.G}, prompt {a.prompt}, new {a.new}")
    prompt = torch.tensor([[(t * 37 + 11) % a.V for t in range(a.prompt)]] * a.G)
    mask = torch.ones_like(prompt)

    def run_generate():
        out = model.generate(input_ids=prompt, attention_mask=mask, do_sample=True, temperature=1.0, top_k=0,
                             top_p=1.0, max_new_tokens=a.new, min_new_tokens=a.new, use_cache=True,
                             pad_token_id=0)
        return out.shape[1] - a.prompt

    def run_loop():
        logps, ents = [], []
        out = model(input_ids=prompt, use_cache=True)
        cache, logits = out.past_key_values, out.logits[:, -1, :]
        for step in range(a.new):
            logp_all = torch.log_softmax(logits.float(), dim=-1)
            tok = torch.multinomial(logp_all.exp(), 1)
            logps.append(logp_all.gather(1, tok))
            ents.append(-(logp_all.exp() * logp_all).sum(-1))
            if step + 1 == a.new:
                break
            out = model(input_ids=tok, past_key_values=cache, use_cache=True)
            cache, logits = out.past_key_values, out.logits[:, -1, :]
        return a.new

    for name, fn in (("generate", run_generate), ("loop", run_loop)):
        best = best_cpu = 0.0
        with torch.inference_mode():
            for r in range(a.reps):
                t0, c0 = time.perf_counter(), time.process_time()
                n = fn()
                dt, cpu = time.perf_counter() - t0, time.process_time() - c0
                tps = a.G * n / dt
                best = max(best, tps)
                best_cpu = max(best_cpu, a.G * n / cpu)
                print(f"{name} rep {r}: {a.G * n} tokens in {dt:.3f} s = {tps:.1f} tokens/s "
                      f"(CPU {cpu:.3f} s, {a.G * n / cpu:.1f} tokens per CPU-second)")
        print(f"{name} best: {best:.1f} tokens/s, {best_cpu:.1f} tokens per CPU-second")


if __name__ == "__main__":
    main()
