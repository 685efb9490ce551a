// overflow.hpp -- inputs so large (|x| ~ 1e300) that a first-layer sum b + W x may overflow.
//
// Legend: n = rows, d = features, m = units of the first layer; W1 (m, d + 1), column 0 the bias.
//
// Training scans X once (has_huge_values, or the caller's answer from scan_values_parallel, the
// pass that also checks X's values); when it may overflow, the first layer computes z,
// then fix_overflowed_rows recomputes the rows whose z is not finite, scaled by a power of two,
// and only then applies f.  Prediction asks first (all_finite, may_overflow) and, when a sum
// could overflow, leaves the rows to the estimator's exact path.  numpy twins:
// backprop.reference.first_layer_logits and the estimator's _rows_that_may_overflow.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "activations.hpp"
#include "dense.hpp"
#include "parallel.hpp"
#include "vecmath.hpp"

namespace backprop {

// What one pass over n values tells a fit: whether every value is finite, and whether some |x|
// reaches the square root of the largest value, the rule by which training takes the
// overflow-safe first layer (an infinity is huge; NaN is not).
struct ValueScan {
    bool finite = true;
    bool huge = false;
};

// Scans x[0, n) in chunks without an early exit inside, so that the compiler vectorises the
// tests (a loop that stops at the first match is scalar, and callers of loss_and_gradient that
// do not say pay the scan per call), and stops after the chunk that settles the question:
// huge_only, the first huge value; otherwise the first value that is not finite (huge is then
// not looked for further: the caller refuses the data).
template <class T>
ValueScan scan_values(const T* x, idx n, bool huge_only) {
    const T big = std::sqrt(std::numeric_limits<T>::max()), top = std::numeric_limits<T>::max();
    constexpr idx kChunk = 1024;
    ValueScan r;
    for (idx i0 = 0; i0 < n; i0 += kChunk) {
        const idx i1 = std::min(n, i0 + kChunk);
        int n_huge = 0, n_bad = 0;  // counts, which vectorise (a bool's |= does not)
        for (idx i = i0; i < i1; ++i) {
            const T a = std::fabs(x[i]);
            n_huge += a >= big;
            n_bad += !(a <= top);  // NaN and infinities
        }
        r.huge = r.huge || n_huge > 0;
        r.finite = r.finite && n_bad == 0;
        if (huge_only ? r.huge : !r.finite) return r;
    }
    return r;
}

// Whether some |x| of the n values reaches sqrt of the largest value: only then can a
// first-layer sum with weights of sane size overflow.
template <class T>
bool has_huge_values(const T* x, idx n) {
    return scan_values(x, n, true).huge;
}

// Values per thread below which a scan runs on fewer threads: a pass over them takes a few
// hundred microseconds, against tens to wake a helper.
constexpr idx kMinScanPerThread = idx(1) << 18;

// scan_values (not huge_only) of n values in up to n_threads contiguous parts, on a team: a pass
// over a large X is bound by one core's share of the memory bandwidth.
template <class T>
ValueScan scan_values_parallel(const T* x, idx n, int n_threads) {
    const int nt = static_cast<int>(std::max<idx>(1, std::min<idx>(n_threads, n / kMinScanPerThread)));
    std::vector<ValueScan> parts(static_cast<std::size_t>(nt));
    run_team(nt, [&](int t) {
        const idx i0 = n * t / nt, i1 = n * (t + 1) / nt;
        parts[static_cast<std::size_t>(t)] = scan_values(x + i0, i1 - i0, false);
    });
    ValueScan r;
    for (const ValueScan& p : parts) {
        r.finite = r.finite && p.finite;
        r.huge = r.huge || p.huge;
    }
    return r;
}

// Rows of the first layer's z = x W^T + b (n rows, stride ldz) whose sum overflowed (some z not
// finite: inf - inf = NaN, or an infinity of possibly the wrong sign) are recomputed as
// s ((x / s) W^T + b / s) in double, s a power of two near max |x| (exact scaling): the sum
// stays finite and only the final product may round to an infinity, of the right sign.  A
// finite z means nothing overflowed.
template <class T>
void fix_overflowed_rows(idx n, const T* X, idx ldx, const T* W, idx d, idx m, T* z, idx ldz) {
    for (idx i = 0; i < n; ++i) {
        T* zi = z + i * ldz;
        bool finite = true;
        for (idx c = 0; c < m; ++c) finite = finite && std::isfinite(zi[c]);
        if (finite) continue;
        const T* x = X + i * ldx;
        double mx = 1.0;
        for (idx j = 0; j < d; ++j) mx = std::max(mx, std::fabs(static_cast<double>(x[j])));
        int e = 0;
        std::frexp(mx, &e);  // mx < 2^e
        const double sc = std::ldexp(1.0, e - 1);
        for (idx c = 0; c < m; ++c) {
            const T* w = W + c * (d + 1);
            double acc = 0.0;
            for (idx j = 0; j < d; ++j) acc += static_cast<double>(w[1 + j]) * (static_cast<double>(x[j]) / sc);
            zi[c] = static_cast<T>((acc + static_cast<double>(w[0]) / sc) * sc);
        }
    }
}

// The first layer for inputs that may overflow: a = f(z) as dense_forward computes it, with
// the overflowed rows of z redone by fix_overflowed_rows first.  W is the layer's row-major
// (m, d + 1) matrix, Wf its packed copy.
template <class T>
void dense_forward_overflow_safe(Act act, idx n, const T* X, idx ldx, const PackedPanels<T>& Wf, const T* W, idx d,
                                 T* a, idx lda_out) {
    dense_forward(Act::identity, n, X, ldx, Wf, a, lda_out);
    fix_overflowed_rows(n, X, ldx, W, d, Wf.m, a, lda_out);
    act_rows(act, n, a, lda_out, Wf.m);
}

// True when every value is finite (an integer OR-reduction over the exponent bits, which the
// compiler vectorises).
template <class T>
bool all_finite(const T* x, idx n) {
    using U = typename fp_traits<T>::uint;
    const U exp_mask = sizeof(T) == 8 ? U(0x7ff0000000000000ull) : U(0x7f800000u);
    U bad = 0;
    for (idx i = 0; i < n; ++i) {
        U b;
        std::memcpy(&b, x + i, sizeof(T));
        bad |= static_cast<U>((b & exp_mask) == exp_mask);
    }
    return bad == 0;
}

// max |x| over finite x: the bit patterns of non-negative floats order like unsigned integers.
template <class T>
T max_abs(const T* x, idx n) {
    using U = typename fp_traits<T>::uint;
    const U abs_mask = ~(U(1) << (8 * sizeof(T) - 1));
    U m = 0;
    for (idx i = 0; i < n; ++i) {
        U b;
        std::memcpy(&b, x + i, sizeof(T));
        b &= abs_mask;
        m = b > m ? b : m;
    }
    T r;
    std::memcpy(&r, &m, sizeof(T));
    return r;
}

// Whether some first-layer sum b + W1[:, 1:] x could overflow: every partial sum is at most
// max_h (|b_h| + sum_j |W1[h, j]|) * max(1, max |x|), safe below a quarter of the largest value
// (the estimator's exact path uses the same bound).
template <class T>
bool may_overflow(const T* X, idx n, idx d, const T* W1, idx m) {
    const double limit = static_cast<double>(std::numeric_limits<T>::max()) / 4;
    const double x = std::max(1.0, static_cast<double>(max_abs(X, n * d)));
    // The common case first, in one vectorised pass over W1: each row's sum of d + 1 values of at
    // most max |W1| is at most (d + 1) max |W1| (1 + eps)^d, so far enough below the limit the
    // answer is no, as the sums below would say.  NaN or infinite weights fall through to them.
    if (x * (static_cast<double>(max_abs(W1, m * (d + 1))) * static_cast<double>(d + 1)) * 2.0 < limit) return false;
    double w = 0.0;
    for (idx h = 0; h < m; ++h) {
        double row = 0.0;
        for (idx j = 0; j <= d; ++j) row += std::fabs(static_cast<double>(W1[h * (d + 1) + j]));
        w = std::max(w, row);
    }
    return x * w >= limit;
}

}  // namespace backprop
