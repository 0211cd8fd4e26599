// The tokenizer a GGUF file describes, as the Hugging Face tokenizer.json / tokenizer_config.json
// text of the model it was converted from.
//
// A GGUF holds the byte-level BPE vocabulary (tokenizer.ggml.tokens, already in the GPT-2 byte
// alphabet), the merges ("a b" strings, best first), a token type per token (1 normal, 3 control,
// 4 user-defined, 5 unused), the special ids and the name of the pre-tokenizer
// (tokenizer.ggml.pre). The normalizer, pre-tokenizer, post-processor and decoder are not stored;
// they are implied by that name, and written here as the original tokenizer.json spells them:
//   gpt-2                        ByteLevel pre-tokenizer with its built-in GPT-2 regex
//   llama-bpe, llama3, llama-v3  Split(LLaMA-3 regex) + ByteLevel, ignore_merges, BOS added by
//                                the post-processor
//   qwen2                        NFC normalizer, Split(Qwen2 regex) + ByteLevel
//   smollm, starcoder, refact    Digits(individual) + ByteLevel with the GPT-2 regex
// Only tokenizer.ggml.model "gpt2" (byte-level BPE) is converted; another model type or
// pre-tokenizer is an error that names it and lists these.
// The vocabulary keeps every token at its GGUF id, except the "[PAD<id>]" placeholders that
// llama.cpp's converter appends to fill the embedding matrix (the original tokenizer has no such
// token). Control tokens become special added tokens, user-defined ones non-special added tokens.
#pragma once
#include <stddef.h>

#include "common/io/gguf.h"

// tokenizer.json text (malloc'd, UTF-8, ends with a newline), or NULL with err naming the file and
// the key or token that cannot be converted.
char *gguf_tokenizer_json(const Gguf *g, char *err, size_t errlen);
// tokenizer_config.json text (malloc'd): bos/eos/pad/unk token strings, add_bos_token,
// add_eos_token, model_max_length, chat_template (when the file has one),
// tokenizer_class "PreTrainedTokenizerFast". NULL with err on failure.
char *gguf_tokenizer_config_json(const Gguf *g, char *err, size_t errlen);
// tokenizer.chat_template (malloc'd), NULL when the file has none (or it is not a string).
char *gguf_chat_template(const Gguf *g);
