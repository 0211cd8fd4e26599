// Small descriptive statistics for analysis tools and logs: quantiles, equal-count (quantile) bins,
// Pearson and Spearman correlation. Pure functions, double precision, deterministic (ties broken by
// index), no I/O.
#pragma once
#include <stddef.h>

// Quantile q in [0, 1] of an ascending array (linear interpolation between order statistics, numpy's
// default). NAN when n == 0.
double stats_quantile_sorted(const double *sorted, size_t n, double q);

// Equal-count bins by rank: the values are ordered ascending (ties by index) and the element of rank r
// goes to bin floor(r * nbins / n), so bin sizes differ by at most one and every element is in exactly
// one bin. x (n,) -> bin (n,). nbins >= 1.
void stats_rank_bins(const double *x, size_t n, int nbins, int *bin);

// Ranks 1..n with ties given their average rank (what Spearman's rho needs). x (n,) -> rank (n,).
void stats_ranks(const double *x, size_t n, double *rank);

// Pearson correlation of x and y (n,). NAN when n < 2 or either has zero variance.
double stats_pearson(const double *x, const double *y, size_t n);
// Spearman's rho: Pearson correlation of the average ranks. NAN under the same conditions.
double stats_spearman(const double *x, const double *y, size_t n);
