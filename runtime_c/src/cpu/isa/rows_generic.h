/* Row kernels of the float32 NN ops (softmax, layer_norm, gelu), written
 * as plain loops the compiler vectorises, and included by each ISA's file
 * so each copy is built with that ISA's flags (the same source, hence the
 * same results up to FMA contraction, on every path). exp and erfc are
 * polynomials here, not libm calls (which do not vectorise), with the
 * error bounds stated at each.
 *
 * Reductions run in LANES independent partial sums (a vector's worth),
 * added pairwise at the end; for n >> LANES that also keeps float32 error
 * near sqrt(n) ulp rather than n. */
#ifndef TTP_CPU_ROWS_GENERIC_H_
#define TTP_CPU_ROWS_GENERIC_H_

#include <math.h>
#include <stdint.h>
#include <string.h>

#define LANES 16

/* e^x for x <= 88, by Cephes' expf scheme: x = n ln2 + r, |r| <= ln2 / 2,
   e^r by a degree-7 polynomial, times 2^n built in the exponent bits.
   Relative error under 2 ulp (measured 1.2e-7 on [-87, 0] against float64:
   tests/runtime/test_cpu_isa.py); x < -87.3 gives 0 instead of a subnormal
   (an absolute error under 1.2e-38); NaN stays NaN. */
static inline float rows_exp(float x) {
  float c = x < -87.3f ? -87.3f : x; /* a NaN passes both compares */
  c = c > 88.0f ? 88.0f : c;
  const float t = c * 1.44269504088896341f + 12582912.0f; /* 1.5 * 2^23: rounds n into the low bits */
  const float n = t - 12582912.0f;
  const float r = (c - n * 0.693359375f) - n * -2.12194440e-4f; /* ln 2 in two parts */
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float e = p * r * r + r + 1.0f;
  uint32_t tb;
  memcpy(&tb, &t, 4);
  const uint32_t sb = (tb - 0x4B400000u + 127u) << 23; /* 2^n; wraps harmlessly for a NaN */
  float scale;
  memcpy(&scale, &sb, 4);
  return x != x ? x : x < -87.3f ? 0.0f : e * scale;
}

/* gelu(x) = x/2 * erfc(-x / sqrt 2), erfc by Numerical Recipes' Chebyshev
   fit erfc(z) = t exp(-z^2 + P(t)), t = 1 / (1 + z/2) for z >= 0
   (fractional error < 1.2e-7), and erfc(-z) = 2 - erfc(z). Written with
   erfc, the negative tail keeps its relative accuracy (no 1 + erf(x)
   cancellation). z^2 = x^2 / 2 is split as (xh^2 + (|x| - xh)(|x| + xh)) / 2
   with xh = |x| cut to 12 significant bits, so xh^2 / 2 is exact and
   exp(-z^2 + P) is exp(-xh^2 / 2) exp(P - (|x| - xh)(|x| + xh) / 2): one
   float exponent the size of z^2 would lose up to ulp(z^2) of relative
   accuracy. Measured error
   (tests/runtime/test_cpu_isa.py, [-30, 30]): relative <= 5e-7 where
   |gelu(x)| >= 1e-30, absolute <= 1e-30 below; NaN stays NaN. */
static inline float rows_gelu(float x) {
  /* past |x| = 30, erfc(|x| / sqrt 2) is 0 in float32: clamping keeps inf - inf out of the split */
  const float ax0 = x < 0 ? -x : x, ax = ax0 < 30.0f ? ax0 : 30.0f, z = ax * 0.70710678118654752f;
  const float t = 1.0f / (1.0f + 0.5f * z);
  float p = 0.17087277f;
  p = p * t - 0.82215223f;
  p = p * t + 1.48851587f;
  p = p * t - 1.13520398f;
  p = p * t + 0.27886807f;
  p = p * t - 0.18628806f;
  p = p * t + 0.09678418f;
  p = p * t + 0.37409196f;
  p = p * t + 1.00002368f;
  p = p * t - 1.26551223f;
  uint32_t hb;
  memcpy(&hb, &ax, 4);
  hb &= 0xFFFFF000u;
  float xh;
  memcpy(&xh, &hb, 4);
  const float erfc_z = t * rows_exp(-0.5f * (xh * xh)) * rows_exp(p - 0.5f * ((ax - xh) * (ax + xh)));
  const float erfc_minus_x = x < 0 ? erfc_z : 2.0f - erfc_z; /* erfc(-x / sqrt 2) */
  return 0.5f * x * erfc_minus_x;
}

static void rows_gelu_map(float* y, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = rows_gelu(x[i]);
}

static inline float rows_max(float a, float b) { return (a > b || a != a) ? a : b; } /* NaN wins, as np.max */

/* e^(x - m), with x - m formed exactly as d + err (TwoSum): rounding x - m
   to one float would cost up to ulp(x - m) of relative accuracy. */
static inline float rows_exp_diff(float x, float m) {
  const float d = x - m, v = d - x;
  const float err = (x - (d - v)) + (-m - v);
  const float e = rows_exp(d);
  /* e^err = 1 + err to within err^2 < 2^-48; err is NaN when d is infinite (then e is 0 or inf as it should be) */
  return e + e * (err == err ? err : 0.0f);
}

/* softmax of one contiguous row: max, exp(x - max) into y and their sum in
   LANES partial sums, then y / sum. Relative error of each probability
   under 5e-7 (measured: tests/runtime/test_cpu_isa.py). A NaN, or a max of
   +-inf, makes the row NaN, as in the reference. */
static void rows_softmax(float* y, const float* x, int64_t n) {
  float lane[LANES];
  int64_t body = n / LANES * LANES;
  for (int l = 0; l < LANES; l++) lane[l] = x[0];
  for (int64_t i = 0; i < body; i += LANES)
    for (int l = 0; l < LANES; l++) lane[l] = rows_max(lane[l], x[i + l]);
  float m = lane[0];
  for (int l = 1; l < LANES; l++) m = rows_max(m, lane[l]);
  for (int64_t i = body; i < n; i++) m = rows_max(m, x[i]);
  for (int l = 0; l < LANES; l++) lane[l] = 0.0f;
  for (int64_t i = 0; i < body; i += LANES)
    for (int l = 0; l < LANES; l++) {
      const float e = rows_exp_diff(x[i + l], m);
      y[i + l] = e;
      lane[l] += e;
    }
  for (int w = LANES / 2; w > 0; w /= 2)
    for (int l = 0; l < w; l++) lane[l] += lane[l + w];
  float sum = lane[0];
  for (int64_t i = body; i < n; i++) {
    y[i] = rows_exp_diff(x[i], m);
    sum += y[i];
  }
  const float inv = 1.0f / sum;
  for (int64_t i = 0; i < n; i++) y[i] *= inv;
}

/* layer_norm of one row of D: mean and variance (two passes, the second
   over (x - mean)^2) in double, in LANES partial sums, so a large mean does
   not cost the result its low bits; then (x - mean) * rstd in double,
   rounded once, times w plus b in float32. */
static void rows_layer_norm(float* y, const float* x, const float* w, const float* b, int64_t D, double eps) {
  double lane[LANES] = {0};
  int64_t body = D / LANES * LANES;
  for (int64_t i = 0; i < body; i += LANES)
    for (int l = 0; l < LANES; l++) lane[l] += (double)x[i + l];
  for (int64_t i = body; i < D; i++) lane[0] += (double)x[i];
  for (int v = LANES / 2; v > 0; v /= 2)
    for (int l = 0; l < v; l++) lane[l] += lane[l + v];
  const double mean = lane[0] / (double)D;
  for (int l = 0; l < LANES; l++) lane[l] = 0.0;
  for (int64_t i = 0; i < body; i += LANES)
    for (int l = 0; l < LANES; l++) {
      const double d = (double)x[i + l] - mean;
      lane[l] += d * d;
    }
  for (int64_t i = body; i < D; i++) {
    const double d = (double)x[i] - mean;
    lane[0] += d * d;
  }
  for (int v = LANES / 2; v > 0; v /= 2)
    for (int l = 0; l < v; l++) lane[l] += lane[l + v];
  /* 1 / sqrt in double: the reference divides by sqrt(var + eps) */
  const double rstd = 1.0 / sqrt(lane[0] / (double)D + eps);
  for (int64_t i = 0; i < D; i++) y[i] = (float)(((double)x[i] - mean) * rstd) * w[i] + b[i];
}

#undef LANES

#endif /* TTP_CPU_ROWS_GENERIC_H_ */
