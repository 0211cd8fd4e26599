// Tokenizers: text <-> token ids.
//
// Two kinds behind one API:
//   "char"  the built-in character tokenizer of the synthetic tasks and the CPU demo: one token per
//           ASCII character, token id == the character's code, so files and logs stay readable.
//           0 = <pad>, 1 = <bos>, 2 = <eos>, 10 = '\n', 32..126 = printable ASCII; vocab_size 128.
//           Tabs become spaces, '\r' is dropped; any other byte is an encode error.
//   "bpe"   byte-level BPE read from a Hugging Face tokenizer.json (Qwen2 / Qwen2.5, LLaMA-3, GPT-2,
//           SmolLM, StarCoder): the normalizer (NFC, NFD, NFKC, NFKD), the pre-tokenizer (Split with a
//           regular expression, Digits, ByteLevel, and Sequences of them), BPE merges by rank,
//           ignore_merges, added and special tokens matched before everything else (lstrip, rstrip,
//           single_word, normalized), and the post-processor's special tokens (LLaMA-3's BOS).
//           The ids equal those of HF `tokenizers` (tests/test_tokenizer_fixtures.c checks every id of
//           a few thousand strings for three vocabularies); docs/model_files.md says what is used for
//           Unicode (PCRE2 for the regular expressions, utf8proc for normalization) and why.
//
// Text in is UTF-8. Invalid UTF-8 is not an error for "bpe": each maximal invalid subsequence becomes
// U+FFFD first, as Python's bytes.decode("utf-8", "replace") does before HF sees the text. Text out
// is always valid UTF-8: bytes that do not form characters (a response cut inside a character) come
// out as U+FFFD, exactly as HF's decode does.
//
// No bound on bytes per token is assumed anywhere: encode appends to a growable id vector, decode
// grows its output buffer, and the streaming decoder holds back only an incomplete character.
//
// Not thread-safe: encode keeps a cache of pre-token results inside the tokenizer. Use one
// Tokenizer per thread (a tokenizer.json loads in well under a second).
#pragma once
#include <stddef.h>

#include "common/engine/model.h"

#define CHAR_TOK_PAD 0
#define CHAR_TOK_BOS 1
#define CHAR_TOK_EOS 2
#define CHAR_TOK_VOCAB 128

#define TOKENIZER_MAX_EOS 8   // ids that end a generation (config.json + generation_config.json + tokenizer_config.json)

typedef struct TokBpe TokBpe;   // byte-level BPE state (common/engine/tokenizer_impl.h)

typedef struct {
    char type[32];        // "char" or "bpe"
    int vocab_size;       // ids are 0 .. vocab_size - 1
    int pad_id, bos_id;   // -1 when absent
    int eos_id;           // the canonical end of a sequence (appended to SFT targets), -1 when absent
    int n_eos;            // every id that ends a generation, eos_id first
    int eos_ids[TOKENIZER_MAX_EOS];
    int add_bos;          // 1: a prompt starts with the post-processor's prefix (bos_id): TOK_ADD_SPECIAL
    char *bos_token, *eos_token;   // their text from tokenizer_config.json ("" when unknown; for chat templates)
    char *chat_template;  // tokenizer_config.json's chat_template (the "default" one of a list), NULL when none
    TokBpe *bpe;          // NULL for "char"
} Tokenizer;

// Encoded ids: a growable vector. encode appends, so a caller can build [prefix] + text + [suffix].
typedef struct {
    int *ids;
    size_t n, cap;
} TokIds;
void tok_ids_push(TokIds *v, int id);
void tok_ids_free(TokIds *v);

// ---- creating --------------------------------------------------------------------------------------
// A built-in tokenizer by name ("char"). Returns 0, or -1 with err when `type` is unknown (e.g. a
// model without tokenizer information).
int tokenizer_init(Tokenizer *t, const char *type, char *err, size_t errlen);
// Byte-level BPE from the text of tokenizer.json and (optional, may be NULL) tokenizer_config.json.
// cfg (may be NULL) adds the model's EOS ids (config.json / generation_config.json) to the stop ids
// and supplies bos / pad ids the tokenizer files leave out. `source` names the files in messages
// (a path). Returns 0, or -1 with err naming the file, the field and the problem.
int tokenizer_load_json(Tokenizer *t, const char *json, const char *config_json, const ModelConfig *cfg,
                        const char *source, char *err, size_t errlen);
// The tokenizer a model carries: its tokenizer.json text (Model.tokenizer_json) when present, else the
// built-in one named by cfg.tokenizer. The model's EOS ids are stop ids; for "char" the model's
// bos_token_id decides add_bos. Returns 0, or -1 with err.
int tokenizer_from_model(Tokenizer *t, const Model *m, char *err, size_t errlen);
void tokenizer_free(Tokenizer *t);

// ---- encoding --------------------------------------------------------------------------------------
#define TOK_ADD_SPECIAL 1   // add the post-processor's tokens (BOS), as HF encode(add_special_tokens=True)

// Appends the ids of len bytes of text to out. Returns 0, or -1 with err (char: the offending byte
// and its offset; out keeps what was appended before the error).
int tokenizer_encode(const Tokenizer *t, const char *text, size_t len, int flags, TokIds *out, char *err, size_t errlen);
// The same for a NUL-terminated string.
int tokenizer_encode_str(const Tokenizer *t, const char *text, int flags, TokIds *out, char *err, size_t errlen);

// A NUL-terminated string's ids as a malloc'd array (*n of them; room for one more), or NULL with err.
int *tokenizer_encode_alloc(const Tokenizer *t, const char *text, int flags, int *n, char *err, size_t errlen);

// ---- decoding --------------------------------------------------------------------------------------
#define TOK_SKIP_SPECIAL 1  // leave out special tokens (pad, BOS, EOS, <|im_end|>, ...), as a verifier wants

// The text of n ids into *buf (capacity *cap; grown with realloc as needed, so *buf may start NULL
// with *cap 0). NUL-terminated; returns its length. Ids outside the vocabulary decode to nothing
// (bpe, as HF) or '?' (char).
size_t tokenizer_decode(const Tokenizer *t, const int *ids, size_t n, int flags, char **buf, size_t *cap);
// The raw bytes of one token (not NUL-terminated; a byte-level token may end inside a character):
// *len bytes at the returned pointer, owned by the tokenizer. NULL when id is outside the vocabulary.
const char *tokenizer_token_bytes(const Tokenizer *t, int id, size_t *len);
// 1 when id is a special token (skipped by TOK_SKIP_SPECIAL).
int tokenizer_is_special(const Tokenizer *t, int id);
// 1 when id ends a generation (one of eos_ids).
int tokenizer_is_eos(const Tokenizer *t, int id);
// The id of a token given by its text (an added/special token such as "<|im_end|>", or a vocabulary
// entry), -1 when there is none.
int tokenizer_token_id(const Tokenizer *t, const char *text);

// Streaming decode (rlvr generate): feed ids one at a time and print what each returns. A character
// whose bytes span several tokens is returned once, when complete; the concatenation of everything
// returned (push after push, then finish) equals tokenizer_decode of all the ids.
typedef struct {
    const Tokenizer *tok;
    int flags;                 // TOK_SKIP_SPECIAL or 0
    unsigned char pend[4];     // bytes of an incomplete character carried to the next token
    int npend;
    char *buf;                 // output of the last call
    size_t cap;
} TokStream;
void tok_stream_init(TokStream *s, const Tokenizer *t, int flags);
// The text completed by id (NUL-terminated, possibly ""), valid until the next call.
const char *tok_stream_push(TokStream *s, int id, size_t *len);
// What is left (an incomplete character comes out as U+FFFD); the stream is reset.
const char *tok_stream_finish(TokStream *s, size_t *len);
void tok_stream_free(TokStream *s);
