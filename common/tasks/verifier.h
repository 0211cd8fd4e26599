// Verifiers: decide whether a model's response answers a problem correctly. This is where reward
// hacking starts, so every rule is biased toward "incorrect" when unsure (docs/tasks.md lists the rules,
// the tolerances and the known limits).
//
//   "math"  : the last \boxed{...} (or \fbox{...}) of the response, compared with the gold answer by
//             normalised text, exact rationals, numbers within a relative tolerance, structure (tuples,
//             intervals, sets, matrices, equations) and symbolic expressions evaluated at random points.
//             Without any box, the answer stated after the last "answer:" / "answer is" counts.
//   "math_boxed" : "math" with a box required.
//   "math_dapo"  : verl's math_dapo reward (DAPO's "Answer: ..." line, Minerva normalisation, string match).
//   "prime_math" : verl's prime_math reward (PRIME): its answer extraction and string normalisation, then
//                  our comparer with its 1e-4 tolerance.
//   "arith" : the last \boxed{...} must hold an integer equal to the gold integer.
//
// All functions are pure: no I/O, no globals, deterministic (random evaluation points come from a
// fixed seed), safe to call from many threads at once. They allocate scratch memory with malloc and
// free it before returning.
#pragma once
#include <stddef.h>

typedef struct {
    double rel_tol;       // numbers without variables: |a-b| <= rel_tol * max(|a|,|b|). Default 1e-9.
    double sym_tol;       // expressions with variables, per evaluation point (same form). Default 1e-8.
    int n_points;         // random points for symbolic comparison (2..64). Default 12.
    int exact_rationals;  // 1 (default): when both sides are exact rationals (integers, decimals,
                          // fractions of them) they must be exactly equal, whatever rel_tol says.
} MathVerifyOpts;

void math_verify_opts_default(MathVerifyOpts *o);

// Number of \boxed / \fbox commands in the text (complete or not).
int boxed_count(const char *response);
// Finds the last \boxed{...} / \fbox{...} (or "\boxed X" without braces) and reports where its contents
// start and how long they are. Returns 1 when found, 0 when there is no box or the last one is unclosed.
int find_boxed_last(const char *response, size_t *start, size_t *len);
// No box at all: finds the answer stated after the last "answer:" / "answer is" (any case): a $...$,
// \(...\) or \[...\] right after it, else the rest of the line up to a sentence end. Returns 1 when found.
int find_answer_statement(const char *response, size_t *start, size_t *len);
// Copies the contents of the last box into out (NUL-terminated, truncated to cap-1 bytes).
// Returns the full content length (>= cap means truncated), or -1 when there is no complete box.
long extract_boxed_last(const char *response, char *out, size_t cap);

// Equality of two bare answers (no \boxed), gold first: 1 equal, 0 not equal (or not decidable).
// opts may be NULL for the defaults.
int math_answer_equal(const char *gold, const char *pred, const MathVerifyOpts *opts);
// 1 when the answer is understood beyond plain text (parsed as a number, expression, tuple, set,
// interval, matrix, equation, choice letter or base-b numeral); 0 when it can only match itself.
int math_answer_understood(const char *answer);

// Response-level verifiers: 1 correct, 0 incorrect. `extracted` (may be NULL, capacity cap) receives
// the answer taken from the response ("" when there is none). A gold answer that itself contains a
// \boxed{} is reduced to its last box first.
int verify_math(const char *gold, const char *response, char *extracted, size_t cap);
int verify_math_opts(const char *gold, const char *response, const MathVerifyOpts *opts,
                     char *extracted, size_t cap);
int verify_math_boxed(const char *gold, const char *response, char *extracted, size_t cap);
int verify_math_dapo(const char *gold, const char *response, char *extracted, size_t cap);
int verify_prime_math(const char *gold, const char *response, char *extracted, size_t cap);
int verify_arith(const char *gold, const char *response, char *extracted, size_t cap);
// Bare-answer form of the arith rule: both are integers ("-12", spaces around allowed) and equal.
int arith_answer_equal(const char *gold, const char *answer);

// Dispatcher by name ("math" | "math_boxed" | "math_dapo" | "prime_math" | "arith"): 1 correct,
// 0 incorrect, -1 unknown verifier name.
int verify(const char *verifier_name, const char *gold, const char *response, char *extracted, size_t cap);
int verifier_known(const char *verifier_name);
#define VERIFIER_NAMES "math, math_boxed, math_dapo, prime_math, arith"
// The verifier name a problem is graded with under reward.style: "default" keeps the problem's own
// verifier; "boxed", "math_dapo" and "prime_math" replace "math" by "math_boxed", "math_dapo" and
// "prime_math" (other verifiers are kept). NULL for an unknown verifier or style.
const char *verifier_for_style(const char *verifier, const char *style);
#define REWARD_STYLES "default, boxed, math_dapo, prime_math"

// Reward for a verdict: +1 / -1 (paper, zero_one = 0) or 1 / 0 (zero_one = 1).
float verify_reward(int correct, int zero_one);
