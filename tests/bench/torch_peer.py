"""The timed loops the PyTorch peers share (bench_sampling.py, bench_train_torch.py, bench_smollm2.py), so
that every benchmark measures the torch side the same way.

time_sampling: G samples of one prompt, fp32, KV cache, temperature 1, no top-k/top-p, exactly `new` new
tokens (no EOS stop), two ways: `generate` (model.generate(do_sample=True)) and `loop` (prefill, then one
forward per step with past_key_values; softmax, multinomial, log-prob and entropy per token, what the C
engine returns). Prints each repetition and "NAME best: X tokens/s, Y tokens per CPU-second", the lines
the .sh drivers read.
time_training: zero grads, forward with labels, backward, clip_grad_norm_(1.0), AdamW; one warm-up step
and `steps` timed ones. Returns (mean step s, best step s, last loss).
"""
import time

import torch


def time_sampling(model, V, G, prompt_len, new, reps, order=("generate", "loop")):
    prompt = torch.tensor([[(t * 37 + 11) % V for t in range(prompt_len)]] * G)  # the C benchmark's prompt ids
    mask = torch.ones_like(prompt)

    def run_generate():
        out = model.generate(input_ids=prompt, attention_mask=mask, do_sample=True, temperature=1.0, top_k=0,
                             top_p=1.0, max_new_tokens=new, min_new_tokens=new, use_cache=True,
                             eos_token_id=None, pad_token_id=0)
        return out.shape[1] - prompt_len

    def run_loop():
        logps, ents = [], []
        out = model(input_ids=prompt, use_cache=True)
        cache, logits = out.past_key_values, out.logits[:, -1, :]
        for step in range(new):
            logp_all = torch.log_softmax(logits.float(), dim=-1)
            tok = torch.multinomial(logp_all.exp(), 1)
            logps.append(logp_all.gather(1, tok))
            ents.append(-(logp_all.exp() * logp_all).sum(-1))
            if step + 1 == new:
                break
            out = model(input_ids=tok, past_key_values=cache, use_cache=True)
            cache, logits = out.past_key_values, out.logits[:, -1, :]
        return new

    runs = {"generate": run_generate, "loop": run_loop}
    for name in order:
        best = best_cpu = 0.0
        with torch.inference_mode():
            for r in range(reps):
                t0, c0 = time.perf_counter(), time.process_time()
                n = runs[name]()
                dt, cpu = time.perf_counter() - t0, time.process_time() - c0
                tps = G * n / dt
                best, best_cpu = max(best, tps), max(best_cpu, G * n / cpu)
                print(f"{name} rep {r}: {G * n} tokens in {dt:.3f} s = {tps:.1f} tokens/s "
                      f"(CPU {cpu:.3f} s, {G * n / cpu:.1f} tokens per CPU-second)")
        print(f"{name} best: {best:.1f} tokens/s, {best_cpu:.1f} tokens per CPU-second")


def time_training(model, tokens, steps):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.1)
    times = []
    for s in range(steps + 1):  # step 0 is warm-up
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=False)
        loss = model(input_ids=tokens, labels=tokens).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if s:
            times.append(time.perf_counter() - t0)
    return sum(times) / len(times), min(times), loss.item()
