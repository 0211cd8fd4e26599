// Tokenizers. The built-in "char" tokenizer is for synthetic tasks and the CPU demo: one token per
// ASCII character, token id == the character's code, so files and logs stay readable.
//   0 = <pad>, 1 = <bos>, 2 = <eos>, 10 = '\n', 32..126 = printable ASCII; vocab_size 128.
// Other bytes (tabs are mapped to a space first) are an encode error. HF byte-level BPE comes later.
#pragma once
#include <stddef.h>

#define CHAR_TOK_PAD 0
#define CHAR_TOK_BOS 1
#define CHAR_TOK_EOS 2
#define CHAR_TOK_VOCAB 128

typedef struct {
    char type[32];        // "char"
    int vocab_size;
    int pad_id, bos_id, eos_id;
} Tokenizer;

// Returns 0, or -1 with err set when `type` is unknown (e.g. a model without tokenizer info).
int tokenizer_init(Tokenizer *t, const char *type, char *err, size_t errlen);
// Encodes text into ids (no BOS added). Returns the number of ids, or -1 with err naming the
// offending byte and its offset. `out` must hold strlen(text) ids.
int tokenizer_encode(const Tokenizer *t, const char *text, int *out, char *err, size_t errlen);
// Decodes ids into a NUL-terminated string in `out` (capacity cap); special tokens are skipped,
// ids outside the vocabulary become '?'. Returns the string length.
size_t tokenizer_decode(const Tokenizer *t, const int *ids, int n, char *out, size_t cap);
// The text of one token ("" for specials), for streaming output.
const char *tokenizer_piece(const Tokenizer *t, int id, char buf[8]);
