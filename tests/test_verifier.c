// The math and arith verifiers: rule-by-rule cases (positives and negatives), extraction, and every
// gold answer of ../shared/data/benchmarks graded against itself and against perturbed answers.
#include "common/tasks/verifier.h"
#include "tests/harness.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct { const char *gold, *pred; int eq; } Case;

static const Case CASES[] = {
    // integers, leading zeros, signs, decimals, scientific notation
    {"204", "204", 1}, {"025", "25", 1}, {"25", "025", 1}, {"204", "205", 0}, {"-10", "-10", 1}, {"-10", "10", 0},
    {"3", "3.0", 1}, {"3", "3.00001", 0}, {"0.15", ".15", 1}, {"0.10", "0.1", 1}, {"1.25", "1.250", 1},
    {"4.5e33", "4.5 \\times 10^{33}", 1}, {"4.5e33", "4.5\\cdot10^{33}", 1}, {"4.5e33", "4.6e33", 0},
    {"1e-5", "0.00001", 1}, {"1e-5", "10^{-5}", 1}, {"1e-5", "1e-6", 0}, {"3.83e35", "3.83E35", 1},
    {"11111111100", "11111111101", 0}, {"4.5e33", "4500000000000000000000000000000001", 0},
    {"0", "0", 1}, {"0", "0.0", 1}, {"0", "1e-30", 0}, {"1.325e-27", "0", 0},
    // fractions, mixed numbers, exact rationals vs decimals
    {"\\frac{14}{3}", "14/3", 1}, {"\\frac{14}{3}", "\\dfrac{14}{3}", 1}, {"\\frac{14}{3}", "\\tfrac{28}{6}", 1},
    {"\\frac{14}{3}", "4.666666667", 0}, {"\\frac{1}{3}", "0.3333333333", 0}, {"\\frac12", "0.5", 1},
    {"\\frac43", "\\frac{4}{3}", 1}, {"\\frac 59", "5/9", 1}, {"\\frac9{19}", "\\frac{9}{19}", 1},
    {"\\frac{270}7\\text{ degrees}", "\\frac{270}{7}", 1}, {"1\\frac{4}{5}", "\\frac95", 1}, {"1\\frac{4}{5}", "\\frac45", 0},
    {"137 \\frac{1}{2}", "137.5", 1}, {"-\\frac{35}{9}", "\\frac{-35}{9}", 1}, {"-\\frac{35}{9}", "\\frac{35}{9}", 0},
    {"\\frac{3}{2}", "1.5", 1}, {"\\frac{3}{2}", "3/2", 1}, {"\\frac{3}{2}", "2/3", 0}, {"\\frac{2}{1005}", "\\frac{2}{1006}", 0},
    // radicals, pi, powers, implicit multiplication
    {"3\\sqrt{13}", "3 \\sqrt{13}", 1}, {"3\\sqrt{13}", "\\sqrt{117}", 1}, {"3\\sqrt{13}", "\\sqrt{118}", 0},
    {"11\\sqrt2", "11\\sqrt{2}", 1}, {"\\frac{\\sqrt{3}}{3}", "\\frac{1}{\\sqrt{3}}", 1}, {"\\frac{\\sqrt{3}}{3}", "\\frac{\\sqrt{3}}{2}", 0},
    {"\\pi", "\\pi", 1}, {"7\\pi", "7 \\pi", 1}, {"7\\pi", "21.99114857512855", 1}, {"7\\pi", "22", 0}, {"288 \\pi", "288\\pi", 1},
    {"\\frac{20000}{\\pi}", "20000/\\pi", 1}, {"18+2\\pi", "2\\pi+18", 1}, {"18+2\\pi", "18+\\pi", 0},
    {"2^{10}", "1024", 1}, {"2^{100} - 2", "2^{100}-1", 0}, {"\\sqrt[3]{-8}", "-2", 1}, {"5!", "120", 1},
    {"\\binom{5}{2}", "10", 1}, {"|-3|", "3", 1}, {"\\left| -3 \\right|", "3", 1},
    // degrees, percent, dollars, thousands separators, units, trailing period
    {"90^\\circ", "90", 1}, {"90^\\circ", "90^{\\circ}", 1}, {"90^\\circ", "90\xc2\xb0", 1}, {"90^\\circ", "91", 0},
    {"30\\%", "30", 1}, {"30\\%", "30%", 1}, {"30\\%", "0.3", 0}, {"\\$32,\\!348", "32348", 1}, {"\\$18.90", "18.9", 1},
    {"\\$36", "\\$ 36", 1}, {"10,\\!080", "10080", 1}, {"10,\\!080", "10,080", 1}, {"11,\\! 111,\\! 111,\\! 100", "11111111100", 1},
    {"2,125", "2125", 1}, {"1,450,000", "1450000", 1}, {"2,125", "2124", 0}, {"5.4 \\text{ cents}", "5.4", 1},
    {"864 \\mbox{ inches}^2", "864", 1}, {"15\\mbox{ cm}^2", "15", 1}, {"12", "12 cm", 1}, {"12", "12.", 1},
    {"12", "12 inches", 1}, {"3", "3 ab", 0}, {"3", "3x", 0}, {"12", "\\text{12}", 1},
    // complex numbers
    {"6 - 5i", "6-5i", 1}, {"6 - 5i", "-5i+6", 1}, {"6 - 5i", "6+5i", 0}, {"1+2i", "i \\cdot 2 + 1", 1},
    {"-2 + 7i", "-2+7i", 1}, {"1+\\sqrt{3} i", "1+i\\sqrt{3}", 1}, {"\\frac{4}{3+3i}", "\\frac{2(1-i)}{3}", 1},
    // symbolic expressions with variables
    {"x^5 - x^4 + x^3 - x^2 + x - 1", "(x-1)(x^4+x^2+1)", 1}, {"x^5 - x^4 + x^3 - x^2 + x - 1", "(x-1)(x^4+x^2-1)", 0},
    {"2k+2", "2(k+1)", 1}, {"2k+2", "2n+2", 0}, {"2k+2", "2k+3", 0}, {"p - q", "-(q-p)", 1}, {"p - q", "q - p", 0},
    {"(a+5)(b+2)", "ab+2a+5b+10", 1}, {"(a+5)(b+2)", "ab+2a+5b+11", 0}, {"6r^2-4r-24", "2(3r^2-2r-12)", 1},
    {"\\cot x", "\\frac{\\cos x}{\\sin x}", 1}, {"\\cot x", "\\tan x", 0}, {"\\cot x", "\\frac{1}{\\tan(x)}", 1},
    {"\\frac{11+9a}{20}", "\\frac{9a+11}{20}", 1}, {"\\frac{11+9a}{20}", "\\frac{9a+11}{21}", 0},
    {"e^{t} / 3", "\\frac{e^t}{3}", 1}, {"e^{t} / 3", "\\frac{1}{3}\\exp(t)", 1}, {"e^{t} / 3", "e^{-t}/3", 0},
    {"\\sqrt{x^2}", "x", 0}, {"|x|", "x", 0}, {"\\frac{1}{2x}", "1/2x", 1}, {"x/2", "1/2x", 0},
    {"\\sin^2 x + \\cos^2 x", "1", 0}, {"\\ln 2 + i\\pi / 3", "\\ln(2) + \\frac{\\pi i}{3}", 1},
    {"\\log_2 8", "3", 1}, {"\\ln 100", "\\log 100", 0}, {"\\sin^{-1} x", "\\arcsin x", 1}, {"\\sin^{-1} x", "\\csc x", 0},
    {"I(0)", "0", 0}, {"y^{\\prime}+r y-r x(t)=0", "y'+ry-rx(t)=0", 1}, {"x_{0}", "x_0", 1}, {"x_{0}", "x_1", 0},
    {"np.arcsin(10/13)", "\\arcsin\\left(\\frac{10}{13}\\right)", 1}, {"np.arcsin(10/13)", "\\arcsin(10/14)", 0},
    // tuples, points, intervals (bracket types matter)
    {"(6,31,-1)", "(6, 31, -1)", 1}, {"(6,31,-1)", "(31,6,-1)", 0}, {"(6,31,-1)", "(6,31)", 0},
    {"\\left( 3, \\frac{\\pi}{2} \\right)", "(3,\\pi/2)", 1}, {"\\left( 3, \\frac{\\pi}{2} \\right)", "(3,\\pi)", 0},
    {"(3,4]", "(3, 4]", 1}, {"(3,4]", "(3,4)", 0}, {"(3,4]", "[3,4]", 0}, {"(-\\infty, 0]", "(-\\infty,0]", 1},
    {"(-\\infty, 0]", "(\\infty,0]", 0}, {"(2,\\infty)", "(2, \\infty)", 1}, {"(2,\\infty)", "(3,\\infty)", 0},
    {"x \\in [-2,7]", "[-2,7]", 1}, {"x \\in [-2,7]", "[-2,7)", 0},
    {"(0,9) \\cup (9,36)", "(9,36)\\cup(0,9)", 1}, {"(0,9) \\cup (9,36)", "(0,36)", 0}, {"(0,9) \\cup (9,36)", "(0,9]\\cup(9,36)", 0},
    {"\\left(\\frac{3}{5},\\frac{8}{3}\\right]", "(0.6, 8/3]", 1},
    // sets and lists: any order, multiplicities count, \pm expands
    {"1,-2", "-2, 1", 1}, {"1,-2", "1", 0}, {"1,-2", "1,-2,3", 0}, {"3, 5, 7", "7,5,3", 1}, {"3, 5, 7", "3,5,5", 0},
    {"\\{1\\pm\\sqrt{5},-2\\}", "-2, 1+\\sqrt5, 1-\\sqrt5", 1}, {"\\{1\\pm\\sqrt{5},-2\\}", "-2, 1+\\sqrt5", 0},
    {"1 \\pm \\sqrt{19}", "1+\\sqrt{19}, 1-\\sqrt{19}", 1}, {"1 \\pm \\sqrt{19}", "1+\\sqrt{19}", 0},
    {"3 \\pm 2 \\sqrt{2}", "3+2\\sqrt2,3-2\\sqrt2", 1}, {"-2,1", "\\{1,-2\\}", 1}, {"-2,1", "(1,-2)", 0},
    {"x=1, x=-2", "-2, 1", 1}, {"2, 3, \\text{ and } 4", "2,3,4", 1},
    // matrices and vectors
    {"\\begin{pmatrix} -1/3 \\\\ 2/3 \\\\ 5/3 \\end{pmatrix}", "\\begin{pmatrix} -\\frac13 \\\\ \\frac23 \\\\ \\frac53 \\end{pmatrix}", 1},
    {"\\begin{pmatrix} -1/3 \\\\ 2/3 \\\\ 5/3 \\end{pmatrix}", "\\begin{pmatrix} -1/3 \\\\ 5/3 \\\\ 2/3 \\end{pmatrix}", 0},
    {"\\begin{pmatrix} -1 & 0 \\\\ 0 & -1 \\end{pmatrix}", "\\begin{bmatrix} -1 & 0 \\\\ 0 & -1 \\end{bmatrix}", 1},
    {"\\begin{pmatrix} -1 & 0 \\\\ 0 & -1 \\end{pmatrix}", "\\begin{pmatrix} -1 \\\\ 0 \\\\ 0 \\\\ -1 \\end{pmatrix}", 0},
    {"\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}", "\\begin{pmatrix} 1 & 3 \\\\ 2 & 4 \\end{pmatrix}", 0},
    // equations
    {"x=5", "5", 1}, {"x=5", "x = 5", 1}, {"x=5", "y=5", 0}, {"x=5", "6", 0}, {"y = 2x + 3", "2x+3", 1},
    {"y = 2x + 3", "y=3+2x", 1}, {"y = 2x + 3", "2x+3=y", 1}, {"y = 2x + 3", "y=2x-3", 0},
    {"5x - 7y + 11z + 4 = 0", "-5x+7y-11z-4=0", 1}, {"5x - 7y + 11z + 4 = 0", "10x-14y+22z+8=0", 0},
    {"5x - 7y + 11z + 4 = 0", "5x-7y+11z=-4", 1}, {"MR=SRMC", "SRMC=MR", 1}, {"MR=SRMC", "MR=SRAC", 0},
    // text answers and choice letters
    {"\\text{(C)}", "C", 1}, {"\\text{(C)}", "(C)", 1}, {"\\text{(C)}", "\\textbf{(C)}", 1}, {"\\text{(C)}", "(D)", 0},
    {"\\text{(C)}", "D", 0}, {"\\text{(C)}", "C and D", 0}, {"(D)", "C", 0}, {"\\text{Evelyn}", "Evelyn", 1},
    {"\\text{Evelyn}", "\\text{evelyn}", 1}, {"\\text{Evelyn}", "Navin", 0}, {"\\text{east}", "East", 1}, {"\\text{east}", "west", 0},
    // base-b numerals
    {"52_8", "52_8", 1}, {"52_8", "52", 1}, {"52_8", "52_{8}", 1}, {"52_8", "42", 0}, {"52_8", "52_9", 0}, {"4210_{5}", "4210", 1},
    // things that must never pass
    {"5", "", 0}, {"5", "5, 6", 0}, {"5", "\\pm 5", 0}, {"5", "5 \\text{ or } 6", 0}, {"5", "5=5", 0}, {"5", "\\infty", 0},
    {"5", "0/0", 0}, {"5", "x", 0}, {"(1,2)", "(1,2", 0}, {"5", "10^{10^{10}}", 0}, {"\\infty", "10^{400}", 0},
    {"5", "\\frac{5}{0}", 0}, {"5", "5 \\le 6", 0},
    // found by the differential set against Math-Verify (tests/verifier_diff/)
    {"\\text{B}", "B", 1}, {"\\text{B}", "(B)", 1}, {"\\text{B}", "\\textbf{(B)}", 1}, {"\\text{B}", "(C)", 0},
    {"I(0)", "-(I(0))", 0}, {"I(0)", "2I(0)", 0}, {"I(0) e^{-t/(RC)}", "I(0)e^{-\\frac{t}{RC}}", 1}, {"f(2x)", "f(x+x)", 1},
    {"f(x)", "f(-x)", 0}, {"P(0)", "0", 0}, {"\\{1\\pm\\sqrt{5},-2\\}", "x = 1\\pm\\sqrt{5}, x = -2", 1},
    {"\\{1\\pm\\sqrt{5},-2\\}", "x = 1+\\sqrt{5}, x = -2", 0}, {"x = 1 \\pm 2", "3, -1", 1}, {"x = 1 \\pm 2", "3", 0},
    {"6, 8\\text{, and }10", "10, 8, 6", 1}, {"6, 8\\text{, and }10", "6, 8", 0},
    {"\\frac{1}{3}", "0.333333", 0}, {"(8,38)", "8, 38", 0}, {"3, 5", "3, 5, 5", 0}, {"30\\%", "0.3", 0},
};

static int check_cases(void) {
    int n = (int)(sizeof(CASES) / sizeof(CASES[0]));
    for (int i = 0; i < n; i++) {
        int r = math_answer_equal(CASES[i].gold, CASES[i].pred, NULL);
        CHECK_MSG(r == CASES[i].eq, "gold [%s] pred [%s]: got %d, want %d", CASES[i].gold, CASES[i].pred, r, CASES[i].eq);
    }
    return n;
}

static void check_extraction(void) {
    char out[64];
    CHECK_EQ_INT(boxed_count("no box here"), 0);
    CHECK_EQ_INT(boxed_count("\\boxed{1} then \\fbox{2} and \\boxed{3}"), 3);
    CHECK_EQ_INT(extract_boxed_last("a \\boxed{1} b \\boxed{\\frac{1}{2}} c", out, sizeof(out)), 11);
    CHECK(!strcmp(out, "\\frac{1}{2}"));
    CHECK(extract_boxed_last("\\fbox{7}", out, sizeof(out)) == 1 && !strcmp(out, "7"));
    CHECK(extract_boxed_last("\\boxed 5$", out, sizeof(out)) == 1 && !strcmp(out, "5"));
    CHECK(extract_boxed_last("\\boxed {\\{1,2\\}}", out, sizeof(out)) > 0 && !strcmp(out, "\\{1,2\\}"));
    CHECK_EQ_INT(extract_boxed_last("\\boxed{1} and then \\boxed{2", out, sizeof(out)), -1);   // unclosed last box
    CHECK_EQ_INT(extract_boxed_last("nothing", out, sizeof(out)), -1);
    CHECK(out[0] == '\0');
    CHECK_EQ_INT(extract_boxed_last("\\boxed{123456789}", out, 4), 9);   // truncated copy, full length
    CHECK(!strcmp(out, "123"));
    CHECK_EQ_INT(extract_boxed_last("\\boxedx{1}", out, sizeof(out)), -1);

    // response-level
    char ex[64];
    CHECK_EQ_INT(verify_math("\\frac{14}{3}", "so $\\boxed{\\dfrac{14}{3}}$.", ex, sizeof(ex)), 1);
    CHECK(!strcmp(ex, "\\dfrac{14}{3}"));
    CHECK_EQ_INT(verify_math("14", "I think it is 14", ex, sizeof(ex)), 0);          // no box, no answer statement
    CHECK(ex[0] == '\0');
    CHECK_EQ_INT(verify_math("14", "so the answer is 14", ex, sizeof(ex)), 1);       // no box: the stated answer
    CHECK(!strcmp(ex, "14"));
    CHECK_EQ_INT(verify_math_boxed("14", "so the answer is 14", ex, sizeof(ex)), 0);   // style "boxed": box required
    CHECK(ex[0] == '\0');
    CHECK_EQ_INT(verify_math("14", "\\boxed{14} no wait \\boxed{15}", ex, sizeof(ex)), 0);   // last box counts
    CHECK_EQ_INT(verify_math("15", "\\boxed{14} no wait \\boxed{15}", ex, sizeof(ex)), 1);
    CHECK_EQ_INT(verify_math("\\boxed{70}", "\\boxed{70}", NULL, 0), 1);              // boxed gold
    CHECK_EQ_INT(verify("math", "3", "\\boxed{3}", NULL, 0), 1);
    CHECK_EQ_INT(verify("arith", "33", "\\boxed{33}", ex, sizeof(ex)), 1);
    CHECK_EQ_INT(verify("arith", "33", "\\boxed{ 33 }", ex, sizeof(ex)), 1);
    CHECK_EQ_INT(verify("arith", "-4", "\\boxed{-4}", ex, sizeof(ex)), 1);
    CHECK_EQ_INT(verify("arith", "33", "\\boxed{33.0}", ex, sizeof(ex)), 0);
    CHECK_EQ_INT(verify("arith", "33", "\\boxed{34}", ex, sizeof(ex)), 0);
    CHECK_EQ_INT(verify("arith", "33", "33", ex, sizeof(ex)), 0);
    CHECK_EQ_INT(verify("arith", "-4", "\\boxed{4}", ex, sizeof(ex)), 0);
    CHECK_EQ_INT(verify("arith", "0", "\\boxed{-0}", ex, sizeof(ex)), 1);
    CHECK_EQ_INT(verify("arith", "33", "\\boxed{3 3}", ex, sizeof(ex)), 0);
    CHECK_EQ_INT(verify("nope", "1", "\\boxed{1}", ex, sizeof(ex)), -1);
    CHECK(verifier_known("math") && verifier_known("arith") && !verifier_known("code"));
    CHECK(verifier_known("math_boxed") && verifier_known("math_dapo") && verifier_known("prime_math"));

    // answer statements (no box anywhere): the last "answer:" / "answer is", a formula or the rest of the line
    CHECK_EQ_INT(verify_math("\\frac{1}{2}", "Answer: $\\frac12$", ex, sizeof(ex)), 1);
    CHECK(!strcmp(ex, "\\frac12"));
    CHECK_EQ_INT(verify_math("36", "**Answer:** $\\$36$", ex, sizeof(ex)), 1);
    CHECK_EQ_INT(verify_math("5", "The answer is 5. It took a while.", ex, sizeof(ex)), 1);
    CHECK_EQ_INT(verify_math("5", "The answer is 4. Answer: 5", ex, sizeof(ex)), 1);   // the last statement
    CHECK_EQ_INT(verify_math("5", "The answer is 5 or 6", ex, sizeof(ex)), 0);
    CHECK_EQ_INT(verify_math("5", "The answer is not $5$", ex, sizeof(ex)), 0);
    CHECK_EQ_INT(verify_math("5", "The answer is $5", ex, sizeof(ex)), 0);              // unclosed formula
    CHECK_EQ_INT(verify_math("5", "The answer is \\boxed{5", ex, sizeof(ex)), 0);       // an unclosed box is truncation
    CHECK_EQ_INT(verify_math("5", "The answer is 5, so \\boxed{6}", ex, sizeof(ex)), 0);   // a box always wins

    // reward.style -> verifier names
    CHECK(!strcmp(verifier_for_style("math", "default"), "math") && !strcmp(verifier_for_style("math", "boxed"), "math_boxed"));
    CHECK(!strcmp(verifier_for_style("math", "math_dapo"), "math_dapo") && !strcmp(verifier_for_style("math", "prime_math"), "prime_math"));
    CHECK(!strcmp(verifier_for_style("arith", "math_dapo"), "arith") && !strcmp(verifier_for_style("math", NULL), "math"));
    CHECK(verifier_for_style("math", "strict") == NULL && verifier_for_style("code", "default") == NULL);
    CHECK(verify_reward(1, 0) == 1.0f && verify_reward(0, 0) == -1.0f && verify_reward(0, 1) == 0.0f);

    // tolerance options
    MathVerifyOpts o;
    math_verify_opts_default(&o);
    CHECK_EQ_INT(math_answer_equal("0.33", "\\frac{1}{3}", &o), 0);
    o.rel_tol = 0.02; o.exact_rationals = 0;
    CHECK_EQ_INT(math_answer_equal("0.33", "\\frac{1}{3}", &o), 1);
    CHECK_EQ_INT(math_answer_equal("0.33", "0.35", &o), 0);
}

// verl's math_dapo reward (reward_score/math_dapo.py): the last "Answer:" line of the last 300
// characters, Minerva-normalised, equal as strings; else the last \boxed{} of the last 100 characters
// equal to the raw gold.
static void check_math_dapo(void) {
    char ex[256];
    struct { const char *gold, *resp; int want; } T[] = {
        {"42", "Some work.\nAnswer: 42", 1}, {"42", "ANSWER: $42$", 1}, {"1000", "Answer: 1,000", 1},
        {"5", "Answer: x = 5", 1}, {"5", "Answer: 5 dollars", 1}, {"\\frac{1}{2}", "Answer: \\frac12", 1},
        {"\\frac{1}{2}", "Answer: 0.5", 0}, {"42", "The Answer:\n\n42", 1}, {"42", "Answer: 41 Answer: 42", 0},
        {"42", "Answer: 41\nAnswer: 42", 1}, {"42", "so \\boxed{42}", 1}, {"42", "so \\boxed{ 42}", 0},
        {"42", "Answer: 41\nthen \\boxed{42}", 0}, {"\\text{east}", "Answer: \\text{east}", 1},
        {"3", "Answer: the value is 3", 0}, {"42", "no answer here", 0}, {"90", "Answer: $90^\\circ$.", 1},
    };
    for (size_t i = 0; i < sizeof T / sizeof T[0]; i++)
        CHECK_MSG(verify_math_dapo(T[i].gold, T[i].resp, ex, sizeof ex) == T[i].want, "math_dapo gold [%s] response [%s]: want %d",
                  T[i].gold, T[i].resp, T[i].want);
    // only the last 300 characters count, and a box only in the last 100
    char long_resp[1024];
    snprintf(long_resp, sizeof long_resp, "Answer: 42\n%0400d", 0);
    CHECK_EQ_INT(verify_math_dapo("42", long_resp, ex, sizeof ex), 0);
    snprintf(long_resp, sizeof long_resp, "\\boxed{42}%0150d", 0);
    CHECK_EQ_INT(verify_math_dapo("42", long_resp, ex, sizeof ex), 0);
    CHECK_EQ_INT(verify("math_dapo", "42", "Answer: 42", ex, sizeof ex), 1);
    CHECK(!strcmp(ex, "42"));
}

// verl's prime_math reward (reward_score/prime_math): match_answer's extraction, the PRM800K/Hendrycks
// normalisation, then numbers within 1e-4 relative (also as a percent) and our comparer.
static void check_prime_math(void) {
    char ex[256];
    struct { const char *gold, *resp; int want; } T[] = {
        {"42", "The answer is 42.", 1}, {"0.5", "so \\boxed{\\frac{1}{2}}", 1}, {"30", "\\boxed{0.3}", 1},
        {"1/3", "\\boxed{0.33333}", 0}, {"0.5", "\\boxed{0.50001}", 1}, {"9", "\\boxed{\\frac{18}{2}}", 0}, {"42", "\\boxed{(42)}", 1},
        {"\\frac{14}{3}", "\\boxed{\\frac{42}{9}}", 0}, {"5", "Therefore x = 5", 1}, {"7", "so k is 7", 1}, {"5", "\\boxed{6}", 0},
        {"\\frac{\\sqrt{3}}{3}", "The answer is $\\frac{1}{\\sqrt{3}}$", 1}, {"(1,2)", "\\boxed{(2,1)}", 0},
        {"10", "The answer is 10 \\text{ cm}", 1}, {"x^2+1", "\\boxed{1+x^2}", 1},
    };
    for (size_t i = 0; i < sizeof T / sizeof T[0]; i++)
        CHECK_MSG(verify_prime_math(T[i].gold, T[i].resp, ex, sizeof ex) == T[i].want, "prime_math gold [%s] response [%s]: want %d",
                  T[i].gold, T[i].resp, T[i].want);
    CHECK_EQ_INT(verify("prime_math", "42", "I think the answer is: 42", ex, sizeof ex), 1);
    CHECK(!strcmp(ex, "42"));
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

// Adversarial answers must neither pass nor take long: every comparison is bounded by the work budget,
// the parser's depth limit and the 4096-byte answer limit. Prints the slowest case.
#define ADVERSARIAL_LIMIT_S 0.25   // per answer, generous for the sanitizer build (Release: docs/tasks.md)
static void check_adversarial(void) {
    enum { N = 4000 };
    static char a[6][N + 64], b[N + 64];
    // deeply nested braces, fractions, roots and parentheses
    for (int i = 0; i < 1300; i++) memcpy(a[0] + 3 * i, "{{{", 3);
    a[0][3900] = '\0';
    size_t w = 0;
    for (int i = 0; i < 600 && w + 8 < N; i++) w += (size_t)sprintf(a[1] + w, "\\frac{1}");
    a[1][w] = '\0';
    w = 0;
    for (int i = 0; i < 600 && w + 8 < N; i++) w += (size_t)sprintf(a[2] + w, "\\sqrt{");
    a[2][w] = '\0';
    // a long list compared member by member with its reverse; a long sum of x
    w = 0;
    for (int i = 1; i <= 900 && w + 8 < N; i++) w += (size_t)sprintf(a[3] + w, "%s%d", i > 1 ? "," : "", i);
    size_t wb = 0;
    for (int i = 900; i >= 1 && wb + 8 < N; i--) wb += (size_t)sprintf(b + wb, "%s%d", i < 900 ? "," : "", i);
    w = 0;
    for (int i = 0; i < 1300 && w + 4 < N; i++) w += (size_t)sprintf(a[4] + w, "%sx", i ? "+" : "");
    // 250 polynomials against the same list reversed: each pair is compared at 12 points until the
    // work budget runs out
    static char c[N + 64];
    w = 0;
    for (int i = 0; i < 250 && w + 16 < N; i++) w += (size_t)sprintf(a[5] + w, "%s(x+%d)^{2}", i ? "," : "", i);
    size_t wc = 0;
    for (int i = 249; i >= 0 && wc + 16 < N; i--) wc += (size_t)sprintf(c + wc, "%s(x+%d)^{2}", i < 249 ? "," : "", i);
    // want: 1 equal, 0 not, -1 either (the work budget may run out first: then it is graded incorrect)
    struct { const char *g, *p; int want; } pairs[] = {
        {"5", a[0], 0}, {a[0], a[0], 1}, {"1", a[1], 0}, {a[1], a[1], 1}, {"0", a[2], 0}, {a[3], b, -1},
        {"1300x", a[4], 1}, {"1301x", a[4], 0}, {a[4], a[4], 1}, {a[5], a[5], 1}, {a[5], c, -1}, {"5", "10^{10^{10^{10^{10}}}}", 0},
        {"5", "2^{2^{2^{2^{2^{2}}}}}", 0}, {"5", "9!!!!!!!!!!!!!!!!", 0}, {"5", "\\binom{10^{9}}{5}", 0},
        {"6", "(((((((((((((((((((((((((((((((((((((((((5)))))))))))))))))))))))))))))))))))))))))", 0},
        {"5", "1e99999999999999999999", 0}, {"x", "x^{99999999999}", 0}, {"5", "\\sqrt[99999]{5^{99999}}", 0},
    };
    double worst = 0;
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        double t0 = now_s();
        int r = math_answer_equal(pairs[i].g, pairs[i].p, NULL);
        double dt = now_s() - t0;
        if (dt > worst) worst = dt;
        if (getenv("RLVR_VERBOSE")) printf("adversarial pair %2zu: %d in %.3f ms\n", i, r, 1e3 * dt);
        CHECK_MSG(dt < ADVERSARIAL_LIMIT_S, "adversarial pair %zu took %.3f s", i, dt);
        CHECK_MSG(pairs[i].want < 0 || r == pairs[i].want, "adversarial pair %zu: got %d, want %d", i, r, pairs[i].want);
    }
    // a long response: extraction and every style stay linear
    size_t n = 1 << 20;
    char *big = malloc(n + 64);
    CHECK(big != NULL);
    if (!big) return;
    for (size_t i = 0; i < n; i++) big[i] = "\\boxed{answer: is . "[i % 20];
    big[n] = '\0';
    const char *names[] = {"math", "math_boxed", "math_dapo", "prime_math"};
    for (int k = 0; k < 4; k++) {
        double t0 = now_s();
        int r = verify(names[k], "5", big, NULL, 0);
        double dt = now_s() - t0;
        if (dt > worst) worst = dt;
        if (getenv("RLVR_VERBOSE")) printf("%s on a 1 MiB response: %.3f ms\n", names[k], 1e3 * dt);
        CHECK_MSG(r == 0 && dt < 4 * ADVERSARIAL_LIMIT_S, "%s on a 1 MiB response: %d in %.3f s", names[k], r, dt);
    }
    free(big);
    printf("adversarial answers: slowest %.1f ms\n", 1e3 * worst);
}

// Garbage must never crash or pass (this also runs under ASan/UBSan).
static void check_garbage(void) {
    const char *junk[] = {"{", "}", "\\", "\\frac", "\\frac{", "\\sqrt[", "((((((((((", "))))", "^^^", "\\begin{pmatrix}",
        "\\begin{pmatrix} 1 & \\\\ \\end{pmatrix}", "1,,2", ",", "\\{", "|", "||", "x_", "x^", "\\left(", "1\\pm\\pm2",
        "=", "x==1", "\\text{", "$", "\\cup", "(1,2)\\cup", "e^{e^{e^{e^{e^{10}}}}}", "0^0", "0^{-1}", "(-8)^{1/3}",
        "\\sqrt[0]{2}", "170!", "171!", "(-1)!", "2.5!", "\\binom{-1}{2}", "\xff\xfe", "1e999999", "\\log_1 5", NULL};
    int passed = 0;
    for (int i = 0; junk[i]; i++) passed += math_answer_equal("5", junk[i], NULL) + math_answer_equal(junk[i], "5", NULL);
    CHECK_EQ_INT(passed, 0);
    char deep[2100];
    for (int i = 0; i < 1000; i++) { deep[i] = '('; deep[2000 - 1 - i] = ')'; }
    deep[2000] = '\0';
    CHECK_EQ_INT(math_answer_equal("5", deep, NULL), 0);
    char longs[9000];
    memset(longs, '1', sizeof(longs) - 1);
    longs[sizeof(longs) - 1] = '\0';
    CHECK_EQ_INT(math_answer_equal("5", longs, NULL), 0);
    CHECK_EQ_INT(math_answer_equal(longs, longs, NULL), 0);   // too long to parse: documented as incorrect
}

// Perturbations that must change the value: first digit +1 (mod 10), or "+1" appended when there is
// no digit; choice letters move to the next letter; text answers get a letter appended.
static void perturb(const char *g, char *out, size_t cap) {
    snprintf(out, cap, "%s", g);
    for (char *p = out; *p; p++)
        if (*p >= '0' && *p <= '9') { *p = *p == '9' ? '0' : (char)(*p + 1); return; }
    snprintf(out, cap, "%s+1", g);
}

static void check_benchmarks(void) {
    // ctest runs C tests in the repository root; shared/ sits beside the repository (RLVR_DATA overrides)
    const char *data = getenv("RLVR_DATA");
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/benchmarks", data ? data : "../shared/data");
    const char *files[] = {"math500.jsonl", "aime24.jsonl", "aime25.jsonl", "amc23.jsonl", "minerva_math.jsonl", "gsm8k.jsonl"};
    int total = 0;
    for (int f = 0; f < 6; f++) {
        char path[1200];
        snprintf(path, sizeof(path), "%s/%s", dir, files[f]);
        FILE *fp = fopen(path, "r");
        CHECK_MSG(fp != NULL, "benchmark file %s missing: the tests need ../shared/data beside the repository", path);
        if (!fp) continue;
        char *line = NULL;
        size_t cap = 0;
        int rows = 0, self_ok = 0, pert_rejected = 0, plus_rejected = 0, understood = 0;
        while (getline(&line, &cap, fp) > 0) {
            json_error_t je;
            json_t *j = json_loads(line, 0, &je);
            json_t *ja = j ? json_object_get(j, "answer") : NULL;
            CHECK_MSG(ja && json_is_string(ja), "%s row %d: no string answer", files[f], rows + 1);
            if (!ja || !json_is_string(ja)) { json_decref(j); continue; }
            const char *g = json_string_value(ja);
            size_t n = strlen(g) + 64;
            char *resp = malloc(n), *pert = malloc(n), *plus = malloc(n);
            snprintf(resp, n, "Therefore the final answer is $\\boxed{%s}$.", g);
            perturb(g, pert, n);
            snprintf(plus, n, "%s+1", g);
            int s = verify_math(g, resp, NULL, 0), p = math_answer_equal(g, pert, NULL), q = math_answer_equal(g, plus, NULL);
            int u = math_answer_understood(g);
            CHECK_MSG(s == 1, "%s: gold [%s] not accepted against itself", files[f], g);
            CHECK_MSG(p == 0, "%s: gold [%s] accepted perturbed [%s]", files[f], g, pert);
            CHECK_MSG(q == 0, "%s: gold [%s] accepted perturbed [%s]", files[f], g, plus);
            CHECK_MSG(u == 1, "%s: gold [%s] is not understood beyond text", files[f], g);
            self_ok += s; pert_rejected += !p; plus_rejected += !q; understood += u;
            rows++;
            free(resp); free(pert); free(plus);
            json_decref(j);
        }
        free(line);
        fclose(fp);
        printf("%-20s rows %4d  self-correct %4d  perturbed-digit rejected %4d  plus-one rejected %4d  parsed %4d\n",
               files[f], rows, self_ok, pert_rejected, plus_rejected, understood);
        CHECK(rows > 0);
        total += rows;
    }
    CHECK_EQ_INT(total, 500 + 30 + 30 + 40 + 272 + 1319);
}

int main(void) {
    int n = check_cases();
    printf("%d rule cases\n", n);
    check_extraction();
    check_garbage();
    check_math_dapo();
    check_prime_math();
    check_adversarial();
    check_benchmarks();
    return tests_done();
}
