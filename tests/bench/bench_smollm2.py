#!/usr/bin/env python3
"""PyTorch CPU eager peer of the SmolLM2 benchmark (tests/bench/bench_smollm2.sh): transformers'
LlamaForCausalLM on the dequantized SmolLM2-135M-Instruct weights (`rlvr convert` of the GGUF to an HF
directory: config.json + float32 model.safetensors), the same work as ours:

    OMP_NUM_THREADS=2 .venv-bench/bin/python tests/bench/bench_smollm2.py sample --model DIR --threads 2 \
        [--G 8 --prompt 32 --new 128 --reps 3]
    OMP_NUM_THREADS=2 .venv-bench/bin/python tests/bench/bench_smollm2.py train --model DIR --threads 2 \
        [--batch 4 --seq 128 --steps 3]

sample: G samples of one prompt, fp32, KV cache, temperature 1, no top-k/top-p, exactly N new tokens
(no EOS stop), two ways as tests/bench/bench_sampling.py: `loop` (prefill, then one forward per step
with past_key_values; softmax, multinomial, log-prob and entropy per token, as ours returns) and
`generate` (model.generate(do_sample=True)). tokens/s = G * N / wall time, prefill included, best of
--reps. The prompt ids are those of build/bench/bench_sampling ((t * 37 + 11) % V).
train: one step = zero grads, forward with labels, backward, clip_grad_norm_(1.0), AdamW, on batch x seq
random tokens; 1 warm-up + --steps timed steps, best and mean step.
"""
import argparse

import torch
from transformers import LlamaForCausalLM

from torch_peer import time_sampling, time_training


def load(path):
    model = LlamaForCausalLM.from_pretrained(path, dtype=torch.float32)
    nparam = sum(p.numel() for p in model.parameters())
    c = model.config
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}; {path}: V {c.vocab_size} C {c.hidden_size} "
          f"I {c.intermediate_size} L {c.num_hidden_layers} H {c.num_attention_heads} KV {c.num_key_value_heads} "
          f"({nparam / 1e6:.1f}M params, tied head {c.tie_word_embeddings})")
    return model


def sample(a):
    model = load(a.model).eval()
    V = model.config.vocab_size
    print(f"G {a.G}, prompt {a.prompt}, new {a.new}")
    time_sampling(model, V, a.G, a.prompt, a.new, a.reps, order=("loop", "generate"))


def train(a):
    model = load(a.model).train()
    tokens = torch.randint(0, model.config.vocab_size, (a.batch, a.seq), generator=torch.Generator().manual_seed(2))
    step, best, loss = time_training(model, tokens, a.steps)
    n = a.batch * a.seq
    print(f"batch={a.batch}x{a.seq} steps={a.steps} step mean {step:.3f} s best {best:.3f} s: {n / best:.0f} tokens/s "
          f"(mean {n / step:.0f})  loss {loss:.4f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=("sample", "train"))
    ap.add_argument("--model", required=True, help="HF directory (rlvr convert of the GGUF)")
    for k, v in dict(threads=2, G=8, prompt=32, new=128, reps=3, batch=4, seq=128, steps=3).items():
        ap.add_argument("--" + k, type=int, default=v)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    (sample if a.mode == "sample" else train)(a)


if __name__ == "__main__":
    main()
