// Minimal test harness: CHECK(cond), CHECK_NEAR(a, b, tol), CHECK_EQ_INT(a, b); main() returns
// tests_done(), which prints "N passed, M failed" and the exit status.
#pragma once
#include <math.h>
#include <stdio.h>

static int tests_passed_ = 0, tests_failed_ = 0;

#define CHECK(cond) do { \
    if (cond) tests_passed_++; \
    else { tests_failed_++; fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); } } while (0)

#define CHECK_MSG(cond, ...) do { \
    if (cond) tests_passed_++; \
    else { tests_failed_++; fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
           fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)

#define CHECK_NEAR(a, b, tol) do { \
    double a_ = (double)(a), b_ = (double)(b); \
    if (fabs(a_ - b_) <= (tol) && !isnan(a_) && !isnan(b_)) tests_passed_++; \
    else { tests_failed_++; fprintf(stderr, "FAIL %s:%d: %s = %.9g, %s = %.9g, |diff| %.3g > tol %.3g\n", \
           __FILE__, __LINE__, #a, a_, #b, b_, fabs(a_ - b_), (double)(tol)); } } while (0)

#define CHECK_EQ_INT(a, b) do { \
    long long a_ = (long long)(a), b_ = (long long)(b); \
    if (a_ == b_) tests_passed_++; \
    else { tests_failed_++; fprintf(stderr, "FAIL %s:%d: %s = %lld, expected %s = %lld\n", \
           __FILE__, __LINE__, #a, a_, #b, b_); } } while (0)

static inline int tests_done(void) {
    printf("%d passed, %d failed\n", tests_passed_, tests_failed_);
    return tests_failed_ ? 1 : 0;
}
