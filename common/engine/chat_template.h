// Chat templates: a list of messages -> the prompt text a chat model was trained on.
//
// Not a jinja engine: a few C renderers, one per template family that the supported models ship, each
// equal byte for byte to what transformers' apply_chat_template (jinja2) renders with the real template
// text for messages of the roles system, user and assistant (tests/test_chat_template.c checks that
// against fixtures written by tests/chat_template/make_fixtures.py):
//
//   qwen2.5   ChatML; a system turn first: the messages' own, else the template's default
//             ("You are Qwen, created by Alibaba Cloud. You are a helpful assistant.")
//   smollm2   ChatML the same way, SmolLM2's / Qwen2's template shape
//             (default "You are a helpful AI assistant named SmolLM, trained by Hugging Face")
//   llama3    LLaMA-3: BOS, then <|start_header_id|>role<|end_header_id|>\n\n + trimmed content + <|eot_id|>
//   llama3.1  LLaMA-3.1 / 3.3: a system turn always, with "Cutting Knowledge Date: December 2023" and
//             "Today Date: 26 Jul 2024", then the turns as llama3
//   llama3.2  the same with today's date ("%d %b %Y"), as transformers' strftime_now gives it
//
// A model's template is recognised from its text (tokenizer_config.json's chat_template, a GGUF's
// tokenizer.chat_template): a hash of the text equals the hash of a shipped template, where the
// default system prompt of a ChatML template is the one free part (so Qwen2.5-Math's template, the
// Qwen2.5 text with another default system prompt, renders with its own). Any other text is refused
// with an error naming the built-in renderers and the config key that picks one.
#pragma once
#include <stddef.h>

#include "common/engine/tokenizer.h"

#define CHAT_TEMPLATE_NAMES "qwen2.5, smollm2, llama3, llama3.1, llama3.2"

typedef enum { CHAT_CHATML = 1, CHAT_LLAMA3 = 2, CHAT_LLAMA31 = 3 } ChatKind;

typedef struct {
    ChatKind kind;
    char name[16];          // one of CHAT_TEMPLATE_NAMES
    char *default_system;   // ChatML: the system turn when the first message is not one (malloc'd)
    char *bos_token;        // LLaMA: the text the prompt starts with (tokenizer_config.json's bos_token; malloc'd)
    const char *date;       // LLaMA-3.1: "26 Jul 2024"; NULL: today's date (LLaMA-3.2)
} ChatTemplate;

typedef struct {
    const char *role;       // "system", "user" or "assistant"
    const char *content;    // UTF-8
} ChatMessage;

// The built-in renderer NAME (one of CHAT_TEMPLATE_NAMES) with its own default system prompt.
// bos_token may be NULL (""). Returns 0, or -1 with err listing the names.
int chat_template_named(ChatTemplate *ct, const char *name, const char *bos_token, char *err, size_t errlen);
// The renderer whose template text this is. source names the text in messages (a path). Returns 0, or
// -1 with err naming the built-in renderers and how to choose one.
int chat_template_recognise(ChatTemplate *ct, const char *text, const char *bos_token, const char *source, char *err,
                            size_t errlen);
// The renderer for a model's tokenizer: force_name when non-empty (the config key data.chat_template),
// else the one its chat template is recognised as. Refused: a tokenizer without a chat template (and no
// force_name), and a renderer whose markers (<|im_start|>, <|start_header_id|>, ...) are not tokens of
// this tokenizer, since they would be encoded as plain text. Returns 0, or -1 with err.
int chat_template_for_tokenizer(ChatTemplate *ct, const Tokenizer *t, const char *force_name, char *err, size_t errlen);
void chat_template_free(ChatTemplate *ct);

// Renders n >= 1 messages, with the assistant's header at the end when add_generation_prompt.
// date_string: LLaMA-3.1 / 3.2's "Today Date" when not NULL (what apply_chat_template(date_string=...)
// does); else the template's own. *out is malloc'd. Returns 0, or -1 with err naming the bad message.
int chat_template_render(const ChatTemplate *ct, const ChatMessage *msgs, size_t n, int add_generation_prompt,
                         const char *date_string, char **out, char *err, size_t errlen);
// One user message, with the generation prompt: the prompt of a problem. *out malloc'd; 0 or -1 with err.
int chat_template_user_prompt(const ChatTemplate *ct, const char *text, char **out, char *err, size_t errlen);
// A one-line description: "smollm2 (ChatML, default system prompt: ...)". Static buffer.
const char *chat_template_describe(const ChatTemplate *ct);
