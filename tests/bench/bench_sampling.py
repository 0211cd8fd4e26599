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

import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

from torch_peer import time_sampling


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
    time_sampling(model, a.V, a.G, a.prompt, a.new, a.reps, order=("generate", "loop"))

if __name__ == "__main__":
    main()
