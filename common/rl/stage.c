// Rising vs plateau stage detector (the paper's two training stages, section 3).
//
// Rule: at each point i with a full window of W points, fit least-squares lines to accuracy and to
// entropy over points i-W+1..i. Point i "looks flat" when accuracy rises by at most acc_slope_max per
// point AND entropy falls by at most ent_drop_max * (window mean entropy) per point. The plateau starts
// at the first point that completes `patience` consecutive flat points (and is at index >= min_step).
// Once declared it stays: the paper's stages do not alternate.
#include "common/rl/algo.h"
#include "common/core/check.h"

#include <math.h>

void stage_params_from_config(const RlvrConfig *c, StageParams *p) {
    p->window = (int)c->trainer_stage_detector_window;
    p->acc_slope_max = c->trainer_stage_detector_rise_threshold;
    // the config gives the relative entropy change over a whole window; the detector takes it per step
    p->ent_drop_max = c->trainer_stage_detector_entropy_threshold / (double)p->window;
    p->patience = STAGE_PATIENCE;
    p->min_step = c->trainer_stage_detector_min_step;
}

void stage_params_default(StageParams *p) {
    RlvrConfig c;
    config_defaults(&c);
    stage_params_from_config(&c, p);
}

int stage_params_check(const StageParams *p, char *err, size_t errlen) {
    if (p->window < 2)
        return rlvr_err(err, errlen, "trainer.stage_detector.window must be >= 2 (got %d)", p->window);
    if (p->patience < 1)
        return rlvr_err(err, errlen, "stage detector: patience must be >= 1 (got %d)", p->patience);
    if (!isfinite(p->acc_slope_max) || !isfinite(p->ent_drop_max))
        return rlvr_err(err, errlen, "stage detector: acc_slope_max / ent_drop_max (trainer.stage_detector.rise_threshold / "
                        "entropy_threshold) must be finite numbers");
    if (p->min_step < 0)
        return rlvr_err(err, errlen, "trainer.stage_detector.min_step must be >= 0 (got %ld)", p->min_step);
    return 0;
}

// Least-squares slope of y over x = 0..n-1 and the mean of y; -1 if a value is not finite.
static int slope_mean(const double *y, size_t n, double *slope, double *mean) {
    double xm = 0.5 * (double)(n - 1), ym = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(y[i])) return -1;
        ym += y[i];
    }
    ym /= (double)n;
    double sxy = 0.0, sxx = 0.0;
    for (size_t i = 0; i < n; i++) {
        double dx = (double)i - xm;
        sxy += dx * (y[i] - ym);
        sxx += dx * dx;
    }
    *slope = sxx > 0 ? sxy / sxx : 0.0;
    *mean = ym;
    return 0;
}

TrainStage stage_detect(const double *acc, const double *ent, size_t n, const StageParams *p, long *plateau_at) {
    if (plateau_at) *plateau_at = -1;
    if ((!acc && !ent) || p->window < 2 || n < (size_t)p->window) return STAGE_RISING;
    size_t W = (size_t)p->window;
    int streak = 0;
    for (size_t i = W - 1; i < n; i++) {
        int flat = 1;
        double s, m;
        if (acc) {
            if (slope_mean(acc + i + 1 - W, W, &s, &m) < 0) flat = 0;
            else if (s > p->acc_slope_max) flat = 0;
        }
        if (ent && flat) {
            if (slope_mean(ent + i + 1 - W, W, &s, &m) < 0) flat = 0;
            else if (-s > p->ent_drop_max * fabs(m)) flat = 0;
        }
        streak = flat ? streak + 1 : 0;
        if (streak >= p->patience && (long)i >= p->min_step) {
            if (plateau_at) *plateau_at = (long)i;
            return STAGE_PLATEAU;
        }
    }
    return STAGE_RISING;
}
