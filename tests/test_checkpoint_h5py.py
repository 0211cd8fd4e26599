"""Checkpoints are plain HDF5: h5py opens them, model tensors sit under their HF names, every dataset's
crc32c attribute matches an independent CRC-32C, and `rlvr inspect` / `rlvr export` work on them.

The checkpoint is written by `tests/test_checkpoint --write PATH` (deterministic contents)."""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import h5py
import numpy as np

from checks import Checks

BIN = os.environ.get("RLVR_BIN", "build/bin")
WRITER = os.path.join(BIN, "..", "tests", "test_checkpoint")
check = Checks()


def crc32c(data: bytes) -> int:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    crc = 0xFFFFFFFF
    for b in data:
        crc = (crc >> 8) ^ table[(crc ^ b) & 0xFF]
    return crc ^ 0xFFFFFFFF


def raw_bytes(ds):
    v = ds[()]
    if isinstance(v, bytes):
        return v if v else b"\0"          # empty strings are stored as one NUL byte
    arr = np.asarray(v)
    return arr.astype(arr.dtype.newbyteorder("<")).tobytes()


def main():
    check(crc32c(b"123456789") == 0xE3069283, "python crc32c self-test")
    tmp = tempfile.mkdtemp(prefix="rlvr_h5py_")
    try:
        path = os.path.join(tmp, "ckpt_000120.h5")
        subprocess.run([WRITER, "--write", path], check=True)
        with h5py.File(path, "r") as f:
            a = f.attrs
            check(a["magic"] in (b"rlvr-checkpoint", "rlvr-checkpoint"), f"magic {a['magic']!r}")
            check(int(a["format_version"]) == 2, "format_version")
            check(int(a["step"]) == 120 and int(a["policy_version"]) == 121, "step / policy_version")
            check(int(a["complete"]) == 1, "complete flag")
            # HF names and shapes; config attributes under config/.
            cfg = f["config"].attrs
            C, V, L = int(cfg["hidden_size"]), int(cfg["vocab_size"]), int(cfg["num_hidden_layers"])
            model = f["model"]
            names = set(model.keys())
            for name, shape in [("model.embed_tokens.weight", (V, C)), ("model.norm.weight", (C,)),
                                ("lm_head.weight", (V, C)), ("model.layers.0.self_attn.q_proj.bias", None),
                                (f"model.layers.{L - 1}.mlp.down_proj.weight", (C, int(cfg["intermediate_size"])))]:
                check(name in names, f"tensor {name} under /model")
                if name in names and shape is not None:
                    check(model[name].shape == shape, f"{name} shape {model[name].shape} != {shape}")
                    check(model[name].dtype == np.float32, f"{name} dtype")
            # The writer sets param i = (i % 1000) * 1e-3 - 0.5; embed_tokens is first in the buffer.
            emb = model["model.embed_tokens.weight"][...].reshape(-1)
            i = np.arange(emb.size)
            want = (i % 1000).astype(np.float32) * np.float32(1e-3) - np.float32(0.5)
            check(np.allclose(emb, want, rtol=0, atol=1e-6), "embed_tokens values")
            # Optimizer moments mirror the model's names and shapes.
            for k in ("adam_m", "adam_v"):
                g = f["optimizer"][k]
                check(set(g.keys()) == names, f"optimizer/{k} tensor names")
                check(g["model.norm.weight"].shape == model["model.norm.weight"].shape, f"optimizer/{k} shapes")
            check(f["rng"].dtype == np.uint64 and f["rng"].shape == (8,), "rng dataset")
            check(list(f["data"][...]) == [7000, 7001, 7002], "data cursor")
            check(f["coordinator"].dtype == np.uint8 and f["coordinator"].shape == (100,), "coordinator blob")
            check(bytes(f["coordinator"][...])[:3] == bytes([7, 14, 21]), "coordinator bytes")
            run_config = f["run_config"][()].decode()
            check("rollout:\n" in run_config and "  n: 8\n" in run_config, "run_config YAML text")
            # Every dataset's CRC matches an independent implementation.
            count = [0]

            def visit(name, obj):
                if isinstance(obj, h5py.Dataset):
                    count[0] += 1
                    got = crc32c(raw_bytes(obj))
                    check(int(obj.attrs["crc32c"]) == got, f"crc32c of {name}: stored {int(obj.attrs['crc32c']):08x}, computed {got:08x}")
            f.visititems(visit)
            check(count[0] == 3 * len(names) + 5, f"dataset count {count[0]}")
            emb_ref = model["model.embed_tokens.weight"][...]
            norm_ref = model["model.norm.weight"][...]

        if shutil.which("h5dump"):
            out = subprocess.run(["h5dump", "-H", path], capture_output=True, text=True)
            check(out.returncode == 0 and "model.embed_tokens.weight" in out.stdout, "h5dump -H reads the file")

        out = subprocess.run([os.path.join(BIN, "rlvr"), "inspect", path], capture_output=True, text=True)
        check(out.returncode == 0, f"rlvr inspect exit {out.returncode}: {out.stderr}")
        for s in ("step         120", "integrity    OK", "Qwen2ForCausalLM", "AdamW moments present", "rollout.n: 8"):
            check(s in out.stdout, f"inspect output lacks {s!r}:\n{out.stdout}")

        hf = os.path.join(tmp, "hf")
        out = subprocess.run([os.path.join(BIN, "rlvr"), "export", tmp, hf], capture_output=True, text=True)
        check(out.returncode == 0, f"rlvr export exit {out.returncode}: {out.stderr}")
        with open(os.path.join(hf, "config.json")) as fh:
            cj = json.load(fh)
        check(cj.get("architectures") == ["Qwen2ForCausalLM"], f"config.json architectures {cj.get('architectures')}")
        with open(os.path.join(hf, "model.safetensors"), "rb") as fh:
            n = struct.unpack("<Q", fh.read(8))[0]
            header = json.loads(fh.read(n))
            body = fh.read()

        def tensor(name):
            e = header[name]
            s, t = e["data_offsets"]
            return np.frombuffer(body[s:t], dtype="<f4").reshape(e["shape"])
        check("model.embed_tokens.weight" in header and "lm_head.weight" in header, "exported tensor names")
        check(np.array_equal(tensor("model.embed_tokens.weight"), emb_ref), "exported embed_tokens bit-identical")
        check(np.array_equal(tensor("model.norm.weight"), norm_ref), "exported norm bit-identical")

        # A damaged file: inspect exits 1 and names the dataset.
        bad = os.path.join(tmp, "bad.h5")
        shutil.copy(path, bad)
        with h5py.File(bad, "r") as f:
            off = f["model"]["model.norm.weight"].id.get_offset()
        with open(bad, "r+b") as fh:
            fh.seek(off + 2)
            b = fh.read(1)
            fh.seek(off + 2)
            fh.write(bytes([b[0] ^ 0x40]))
        out = subprocess.run([os.path.join(BIN, "rlvr"), "inspect", bad], capture_output=True, text=True)
        check(out.returncode == 1 and "model/model.norm.weight" in out.stdout and "FAILED" in out.stdout,
              f"inspect of a damaged file: {out.returncode} {out.stdout}")
        out = subprocess.run([os.path.join(BIN, "rlvr"), "export", bad, os.path.join(tmp, "hf2")], capture_output=True, text=True)
        check(out.returncode == 1 and "checksum" in out.stderr, f"export of a damaged file: {out.returncode} {out.stderr}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
