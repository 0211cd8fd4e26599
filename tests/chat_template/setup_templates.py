#!/usr/bin/env python3
"""Writes the chat templates the tests need that are not files of their own in the registry downloads.

    .venv-gguf/bin/python tests/chat_template/setup_templates.py CACHE      (tests/gguf_setup.sh runs it)

CACHE is the .cache folder of tests/gguf_setup.sh (.cache/pypi holds the downloads). Writes
CACHE/assets/chat_templates/:
  meta-llama-Meta-Llama-3-8B-Instruct.jinja   LLaMA-3's template: llama-cpp-python recognises LLaMA-3 GGUF
                                              files by this text (LLAMA3_INSTRUCT_CHAT_TEMPLATE in the
                                              source tarball's llama_cpp/llama_chat_format.py)
  HuggingFaceTB-SmolLM2-135M-Instruct.jinja   SmolLM2's template, as its GGUF carries it (tokenizer.chat_template)
The other templates the tests use are llama.cpp's, already extracted to CACHE/assets/llama.cpp/models/templates/.
"""
import ast
import glob
import os
import sys
import tarfile

import gguf


def llama3_template(cache):
    tarballs = glob.glob(os.path.join(cache, "pypi", "llama_cpp_python-*.tar.gz"))
    if not tarballs:
        sys.exit("setup_templates: no llama_cpp_python source tarball in %s/pypi (run tests/gguf_setup.sh)" % cache)
    with tarfile.open(sorted(tarballs)[-1]) as tar:
        member = next((m for m in tar.getmembers() if m.name.endswith("/llama_cpp/llama_chat_format.py")), None)
        if member is None:
            sys.exit("setup_templates: %s has no llama_cpp/llama_chat_format.py" % tarballs[-1])
        source = tar.extractfile(member).read().decode("utf-8")
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "LLAMA3_INSTRUCT_CHAT_TEMPLATE" for t in node.targets):
            return ast.literal_eval(node.value)
    sys.exit("setup_templates: llama_chat_format.py defines no LLAMA3_INSTRUCT_CHAT_TEMPLATE")


def smollm2_template(cache):
    path = os.path.join(cache, "assets", "SmolLM2-135M-Instruct.Q4_1.gguf")
    field = gguf.GGUFReader(path).fields.get("tokenizer.chat_template")
    if field is None:
        sys.exit("setup_templates: %s carries no tokenizer.chat_template" % path)
    return bytes(field.parts[field.data[0]]).decode("utf-8")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: setup_templates.py CACHE")
    cache = sys.argv[1]
    out = os.path.join(cache, "assets", "chat_templates")
    os.makedirs(out, exist_ok=True)
    for name, text in (("meta-llama-Meta-Llama-3-8B-Instruct.jinja", llama3_template(cache)),
                       ("HuggingFaceTB-SmolLM2-135M-Instruct.jinja", smollm2_template(cache))):
        path = os.path.join(out, name)
        with open(path + ".tmp", "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.replace(path + ".tmp", path)


if __name__ == "__main__":
    main()
