#!/usr/bin/env python3
"""PyTorch CPU eager peer of tests/bench/bench_train.c: same model shape, batch, loss, clip, AdamW. Run by
tests/bench/bench_train.sh in the environment tests/bench/setup_peers.sh makes; by hand:

    OMP_NUM_THREADS=2 .venv-bench/bin/python tests/bench/bench_train_torch.py --threads 2 --hidden 512 --layers 4 \
        --heads 8 --kv 4 --inter 1376 --vocab 8192 --batch 4 --seq 128 --steps 3
"""
import argparse

import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

from torch_peer import time_training

ap = argparse.ArgumentParser()
for k, v in dict(threads=2, hidden=512, layers=4, heads=8, kv=4, inter=1376, vocab=8192, batch=4, seq=128, steps=3).items():
    ap.add_argument("--" + k, type=int, default=v)
a = ap.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
cfg = Qwen2Config(vocab_size=a.vocab, hidden_size=a.hidden, intermediate_size=a.inter, num_hidden_layers=a.layers,
                  num_attention_heads=a.heads, num_key_value_heads=a.kv, max_position_embeddings=max(2048, a.seq),
                  tie_word_embeddings=False, use_sliding_window=False)  # default attention: SDPA
model = Qwen2ForCausalLM(cfg).float().train()
tokens = torch.randint(0, a.vocab, (a.batch, a.seq))
step, best, loss = time_training(model, tokens, a.steps)
n = a.batch * a.seq
print(f"torch {torch.__version__} threads={a.threads} params={sum(p.numel() for p in model.parameters()) / 1e6:.1f}M "
      f"batch={a.batch}x{a.seq} step mean {step:.3f} s best {best:.3f} s: {n / best:.0f} tokens/s (mean {n / step:.0f})  "
      f"loss {loss:.4f}")
