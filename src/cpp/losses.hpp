// losses.hpp -- the output layer's losses: their value and their delta dJ/dz.
//
// Legend: n = samples, m = output units; P (n, m) the output's activations, row stride ldp;
//         Y (n, m) the targets, row stride ldy (one value per row when m = 1); w the optional
//         per-sample weights (nullptr: w_i = 1).
//
// Each loss comes with the output activation whose derivative cancels against its own, so
// that the output delta is w_i (P_i - Y_i) (the canonical pairs), per sample i:
//   binary_log   sigmoid, m >= 1    l_i = -sum_c log(Y ? P : 1 - P)     ("logistic"; m > 1: multilabel)
//   softmax_log  softmax, m >= 2    l_i = -log(sum_c Y P)               ("softmax", Y one-hot)
//   squared      identity           l_i = 0.5 sum_c (P - Y)^2           ("identity")
//   poisson      exp                l_i = sum_c (Y log(Y / P) - Y + P)  ("exp"; 0 log 0 = 0)
// and J = sum_i w_i l_i / sum_i w_i (+ the L2 term over sum_i w_i, in sweep.hpp).  P is clipped
// to [eps, 1 - eps] inside the logs of the first two (eps of the dtype), as scikit-learn does.
// exp is not clipped, as scikit-learn's is not: a logit above log(max) (709 in double, 88 in
// float) gives P = inf and an infinite (or NaN) loss and delta, which the caller sees in the
// loss curve; the first layer's overflow guard (overflow.hpp) is about the sums W x, not this.
// The loss sums are returned undivided (the division by the batch's n or weight sum is applied
// once), in double.
//
// float32 training computes the two log-losses from the logits z (kLossFromLogits): in float32,
// 1 - P has lost its digits once |z| passes about 8, and -log(1 - P) with it (4e-4 relative on
// saturated networks).  From z, -log sigmoid(s) = max(-s, 0) + log1p(exp(-|s|)) (s = z, or -z
// for a 0 label) and log softmax(z)_c = (z_c - max) - log1p(sum of the other exp(z - max)) are
// accurate to a few float32 ulps; the clipping is the same, applied to the log (to [log eps,
// log(1 - eps)]).  The probabilities themselves (and so the deltas and every weight) are the
// same bits as the fused activation gives.  float64 keeps the formulas above, scikit-learn's to
// the last bit.
//
// scikit-learn reports its squared error averaged over the m outputs, while its gradient is that
// of the sum over outputs.  The kernels keep J (the sum) as the loss whose gradient they compute
// (finite differences hold them together); the caller may ask for the reported loss to divide
// the data term by m (average_outputs in sweep.hpp's batch_loss), which changes the recorded
// loss only, never the delta.
// numpy twins: backprop.reference.output_losses, data_loss, binary_log_loss,
// binary_log_loss_backward, softmax_log_loss and the w (P - Y) of network_backward.
#pragma once

#include <cmath>
#include <limits>
#include <type_traits>

#include <algorithm>

#include "activations.hpp"
#include "simd.hpp"
#include "vecmath.hpp"

namespace backprop {

// -sum_i log(tmp[i]) for n positive values, overwriting tmp with the logs; accumulated in double
// as eight interleaved partial sums in a fixed order (deterministic, and vectorisable).
template <class T>
double neg_sum_of_logs(idx n, T* __restrict tmp) {
    log_inplace(tmp, n);
    double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    idx i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; ++j) s[j] += static_cast<double>(tmp[i + j]);
    for (int j = 0; i < n; ++i, ++j) s[j] += static_cast<double>(tmp[i]);
    return -(((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])));
}

// A probability clipped to [eps, 1 - eps] (eps the type's epsilon) before its log, as
// scikit-learn's log-losses clip; NaN passes through (the callers test for it).
template <class T>
inline T clip_probability(T q) {
    const T eps = std::numeric_limits<T>::epsilon();
    q = q < eps ? eps : q;
    return q > T(1) - eps ? T(1) - eps : q;
}

// tmp[i m + c] = clip(Y[i, c] ? P[i, c] : 1 - P[i, c]) for n rows of m units (row strides ldp
// and ldy), the values whose logs make the log-loss of m sigmoid units; returns whether a P is
// NaN (tmp then holds garbage).
template <class T>
bool label_probabilities(idx n, idx m, const T* __restrict P, idx ldp, const T* __restrict Y, idx ldy,
                         T* __restrict tmp) {
    using V = typename simd<T>::vec;
    constexpr int VW = simd<T>::width;
    const T eps = std::numeric_limits<T>::epsilon();
    bool nan = false;
    idx i = 0;
    if (m == 1 && ldp == 1 && ldy == 1) {  // one contiguous column: whole vectors (the compiler
                                           // leaves the loop below scalar, as its NaN-keeping
                                           // compares become branches); the same values go to tmp
        typename math_vec<T>::I nan_lanes{};
        for (; i + VW <= n; i += VW) {
            const V q = vload<V>(P + i);
            nan_lanes |= q != q;
            V c = q < vbroadcast<V>(eps) ? vbroadcast<V>(eps) : q;
            c = c > vbroadcast<V>(T(1) - eps) ? vbroadcast<V>(T(1) - eps) : c;
            vstore(tmp + i, vload<V>(Y + i) != V{} ? c : vbroadcast<V>(T(1)) - c);
        }
        for (int l = 0; l < VW; ++l) nan = nan || nan_lanes[l] != 0;
    }
    for (; i < n; ++i)
        for (idx c = 0; c < m; ++c) {
            T q = P[i * ldp + c];
            nan |= q != q;
            q = clip_probability(q);
            tmp[i * m + c] = Y[i * ldy + c] != T(0) ? q : T(1) - q;
        }
    return nan;
}

// tmp[i] = sum_c Y[i, c] clip(P[i, c]) for n rows of m softmax units (row strides ldp and ldy),
// the values whose logs make the cross-entropy; returns whether a P is NaN.
template <class T>
bool softmax_label_probabilities(idx n, idx m, const T* __restrict P, idx ldp, const T* __restrict Y, idx ldy,
                                 T* __restrict tmp) {
    bool nan = false;
    for (idx i = 0; i < n; ++i) {
        T s = T(0);
        for (idx c = 0; c < m; ++c) {
            T q = P[i * ldp + c];
            nan |= q != q;
            q = clip_probability(q);
            s += Y[i * ldy + c] * q;
        }
        tmp[i] = s;
    }
    return nan;
}

// Returns sum_i log(y_i ? p_i : 1 - p_i) (negated, not divided by n), accumulated in double.
// p has stride ldp.  tmp must hold n values.
template <class T>
double binary_log_loss_sum(idx n, const T* __restrict p, idx ldp, const T* __restrict y, T* __restrict tmp) {
    if (label_probabilities(n, 1, p, ldp, y, 1, tmp))
        return std::numeric_limits<double>::quiet_NaN();  // the vector log does not propagate NaN
    return neg_sum_of_logs(n, tmp);
}

// delta[i] = p[i] - y[i]  (delta and p have strides ldd and ldp; delta may overwrite p).
template <class T>
void binary_log_loss_backward(idx n, const T* p, idx ldp, const T* y, T* delta, idx ldd) {
    for (idx i = 0; i < n; ++i) delta[i * ldd] = p[i * ldp] - y[i];
}

// The mean binary log-loss of n >= 1 probabilities p against labels y; tmp holds n values.
template <class T>
double binary_log_loss_mean(idx n, const T* p, const T* y, T* tmp) {
    return binary_log_loss_sum<T>(n, p, 1, y, tmp) / static_cast<double>(n);
}

// Softmax output (m >= 2 units, Y one-hot with row stride ldy):
//   loss:  returns -sum_i log(sum_c Y[i, c] clip(P[i, c], eps, 1 - eps))  (not divided by n)
//   delta: delta[i, c] = P[i, c] - Y[i, c]      (softmax and cross-entropy derivatives combined)
template <class T>
double softmax_log_loss_sum(idx n, idx m, const T* __restrict P, idx ldp, const T* __restrict Y, idx ldy,
                            T* __restrict tmp) {
    if (softmax_label_probabilities(n, m, P, ldp, Y, ldy, tmp))
        return std::numeric_limits<double>::quiet_NaN();  // the vector log does not propagate NaN
    return neg_sum_of_logs(n, tmp);
}

// P -= Y over n rows of m columns: the delta of every canonical pair, softmax's included.
template <class T>
void softmax_log_loss_backward(idx n, idx m, T* P, idx ldp, const T* Y, idx ldy) {
    for (idx i = 0; i < n; ++i)
        for (idx c = 0; c < m; ++c) P[i * ldp + c] -= Y[i * ldy + c];
}

// float32 training takes its log-losses from the logits (see the header).
template <class T>
constexpr bool kLossFromLogits = std::is_same_v<T, float>;

// The clip of the probabilities inside the logs, applied to the log: [log eps, log(1 - eps)].
template <class T>
struct LogClip {
    const double lo = std::log(static_cast<double>(std::numeric_limits<T>::epsilon()));
    const double hi = std::log1p(-static_cast<double>(std::numeric_limits<T>::epsilon()));
    double operator()(double log_p) const { return log_p < lo ? lo : (log_p > hi ? hi : log_p); }
};

// log1p(e) for e in [0, 1] from w = 1 + e and log(w): exact where w - 1 is (Sterbenz), e where w
// rounds to 1, so accurate to a few ulps (log(w) alone loses the digits of small e).  For one
// value, and lane by lane for a group (the same operations).
template <class T>
inline T log1p_from(T e, T w, T log_w) {
    return w == T(1) ? e : log_w * (e / (w - T(1)));
}

template <class I, class V, int N>
inline __attribute__((always_inline)) group<V, N> log1p_from(const group<V, N>& e, const group<V, N>& w,
                                                             const group<V, N>& log_w) {
    const group<V, N> one = splat<group<V, N>>(1);
    return select(equal<I>(w, one), e, log_w * (e / (w - one)));
}

// Sigmoid outputs from logits, m >= 1 columns (multilabel when m > 1): Z (n <= kLossRows rows,
// stride ldz) holds z and is overwritten with P = sigmoid(z), the same bits as sigmoid_inplace;
// returns sum_i w_i sum_c -log clip(Y ? P : 1 - P) computed from z.  P and -log P(label) are
// computed in whole vectors: read in place where Z and Y are contiguous runs (one column, unit
// strides: the narrow tail's), the rest gathered (padded with 0); only the clipped sum in double
// walks the values one by one, in row order.  tmp holds 3 round_up(n m, W) values.
template <class T>
double binary_log_loss_sum_from_logits(idx n, idx m, T* __restrict Z, idx ldz, const T* __restrict Y, idx ldy,
                                       const T* __restrict w, T* __restrict tmp) {
    using V = typename math_vec<T>::V;
    using I = typename math_vec<T>::I;
    using G = group<V, 1>;
    constexpr int VW = math_vec<T>::width;
    const idx k = n * m, k_pad = round_up(k, VW);
    // values [0, k_direct) are read and written in place; rows from i0 on go through tmp
    const idx k_direct = m == 1 && ldz == 1 && ldy == 1 ? k / VW * VW : 0, i0 = k_direct / m;
    T* const zp = tmp;            // z, then P = sigmoid(z) (the gathered values)
    T* const s = tmp + k_pad;     // the label's logit (z, or -z for a 0 label): log P(label) = log sigmoid(s)
    T* const nls = s + k_pad;     // -log sigmoid(s) = max(-s, 0) + log1p(exp(-|s|))
    bool nan = false;
    for (idx i = i0; i < n; ++i)
        for (idx c = 0; c < m; ++c) {
            const T z = Z[i * ldz + c];
            nan |= z != z;
            zp[i * m + c] = z;
            s[i * m + c] = Y[i * ldy + c] != T(0) ? z : T(0) - z;
        }
    for (idx j = k; j < k_pad; ++j) zp[j] = s[j] = T(0);
    const G zero = splat<G>(0), one = splat<G>(1);
    I not_a_number = zero.x[0] != zero.x[0];  // lanes of the in-place values that are NaN
    for (idx j = 0; j < k_pad; j += VW) {
        const bool direct = j < k_direct;
        G z, sj;
        if (direct) {
            z.x[0] = vload<V>(Z + j);
            not_a_number |= z.x[0] != z.x[0];
            sj = select(group<I, 1>{{vload<V>(Y + j) != zero.x[0]}}, z, zero - z);
        } else {
            z.x[0] = vload<V>(zp + j);
            sj.x[0] = vload<V>(s + j);
        }
        const group<I, 1> pos = greater_equal<I>(z, zero);
        const G e = exp_nonpositive<T>(select(pos, zero - z, z));  // exp(-|z|) = exp(-|s|)
        const G wj = one + e;
        const G softplus = select(less<I>(sj, zero), zero - sj, zero) + log1p_from<I>(e, wj, log_positive<T>(wj));
        vstore(nls + j, softplus.x[0]);
        vstore(direct ? Z + j : zp + j, sigmoid_from_exp(pos, e).x[0]);
    }
    for (int lane = 0; lane < VW; ++lane) nan |= not_a_number[lane] != 0;
    const LogClip<T> clip;
    double total = 0.0;
    for (idx i = 0; i < n; ++i) {
        double l = 0.0;
        for (idx c = 0; c < m; ++c) l -= clip(-static_cast<double>(nls[i * m + c]));
        total += w ? static_cast<double>(w[i]) * l : l;
    }
    for (idx i = i0; i < n; ++i)
        for (idx c = 0; c < m; ++c) Z[i * ldz + c] = zp[i * m + c];
    return nan ? std::numeric_limits<double>::quiet_NaN() : total;  // (P is NaN where z is, as sigmoid's)
}

// Softmax outputs from logits (m >= 2, n <= kLossRows rows of Z, stride ldz, left as they are):
// sum_i w_i sum_c -Y[i, c] log clip(softmax(z_i)_c), computed from z.  tmp holds 2 n m + 2 n
// values.
template <class T>
double softmax_log_loss_sum_from_logits(idx n, idx m, const T* __restrict Z, idx ldz, const T* __restrict Y, idx ldy,
                                        const T* __restrict w, T* __restrict tmp) {
    T* const shifted = tmp;         // z - max (<= 0; the max's own is 0)
    T* const e = tmp + n * m;       // exp(z - max)
    T* const others = e + n * m;    // per row: the sum of exp(z - max) but the max's (its 1)
    T* const lw = others + n;       // per row: log(1 + others)
    auto top = [&](idx i) {
        idx t = 0;
        for (idx c = 1; c < m; ++c) t = Z[i * ldz + c] > Z[i * ldz + t] ? c : t;
        return t;
    };
    bool nan = false;
    for (idx i = 0; i < n; ++i) {
        const T mx = Z[i * ldz + top(i)];
        for (idx c = 0; c < m; ++c) {
            const T z = Z[i * ldz + c];
            nan |= z != z;
            shifted[i * m + c] = e[i * m + c] = z - mx;
        }
    }
    if (nan) return std::numeric_limits<double>::quiet_NaN();
    exp_nonpositive_inplace(e, n * m);
    for (idx i = 0; i < n; ++i) {
        const idx t = top(i);
        T sum = T(0);
        for (idx c = 0; c < m; ++c) sum += c == t ? T(0) : e[i * m + c];
        others[i] = sum;
        lw[i] = T(1) + sum;
    }
    log_inplace(lw, n);
    const LogClip<T> clip;
    double total = 0.0;
    for (idx i = 0; i < n; ++i) {
        const double lse = log1p_from(others[i], T(1) + others[i], lw[i]);  // log sum_c exp(z_c - max)
        double l = 0.0;
        for (idx c = 0; c < m; ++c) {
            const T y = Y[i * ldy + c];
            if (y != T(0)) l -= static_cast<double>(y) * clip(static_cast<double>(shifted[i * m + c]) - lse);
        }
        total += w ? static_cast<double>(w[i]) * l : l;
    }
    return total;
}

enum class Loss : int { binary_log = 0, softmax_log = 1, squared = 2, poisson = 3 };

constexpr idx kLossRows = 32;  // loss sums are taken over fixed runs of rows, whatever the split

// Values of scratch output_loss_and_delta needs for m output units (softmax_rows takes 64 m, the
// losses from logits of a run of rows 3 m per row and a vector's padding (binary) or 2 m + 2 per
// row (softmax); float has the most lanes).
constexpr idx loss_scratch_size(idx m) {
    return std::max<idx>(256, 64 * m) + std::max<idx>(3 * (kLossRows * m + simd<float>::width), 2 * kLossRows * (m + 1));
}

// The default loss of a network with m_out output units: one unit is a sigmoid with the binary
// log-loss, more a softmax with the cross-entropy.
constexpr Loss loss_for_outputs(idx m_out) { return m_out >= 2 ? Loss::softmax_log : Loss::binary_log; }

// The activation the output layer's product applies (the softmax normalises across units and
// exp is the poisson output's, so output_loss_and_delta applies those instead).
constexpr Act output_activation(Loss loss) { return loss == Loss::binary_log ? Act::sigmoid : Act::identity; }

// The same in training, where float32 keeps the sigmoid's logits for its loss.
template <class T>
constexpr Act training_output_activation(Loss loss) {
    return kLossFromLogits<T> && loss == Loss::binary_log ? Act::identity : output_activation(loss);
}

// sum_i w_i l_i over n <= kLossRows rows (w_i = 1 when w is nullptr), l_i the loss's per-row sum
// over the m columns; P holds the finished outputs.  The unweighted one-unit log-loss and the
// unweighted softmax take binary_log_loss_sum / softmax_log_loss_sum above.  tmp holds
// max(kLossRows, 64 m) values.
template <class T>
double weighted_loss_sum(Loss loss, idx n, idx m, const T* __restrict P, idx ldp, const T* __restrict Y, idx ldy,
                         const T* __restrict w, T* __restrict tmp) {
    auto weight = [w](idx i) { return w ? static_cast<double>(w[i]) : 1.0; };
    double total = 0.0;
    switch (loss) {
        case Loss::binary_log:
        case Loss::softmax_log: {
            const idx per_row = loss == Loss::binary_log ? m : 1;
            const bool nan = loss == Loss::binary_log ? label_probabilities(n, m, P, ldp, Y, ldy, tmp)
                                                      : softmax_label_probabilities(n, m, P, ldp, Y, ldy, tmp);
            if (nan) return std::numeric_limits<double>::quiet_NaN();  // the vector log does not propagate NaN
            log_inplace(tmp, n * per_row);
            for (idx i = 0; i < n; ++i) {
                double l = 0.0;
                for (idx c = 0; c < per_row; ++c) l += static_cast<double>(tmp[i * per_row + c]);
                total -= weight(i) * l;
            }
            break;
        }
        case Loss::squared:
            for (idx i = 0; i < n; ++i) {
                double l = 0.0;
                for (idx c = 0; c < m; ++c) {
                    const double d = static_cast<double>(P[i * ldp + c] - Y[i * ldy + c]);
                    l += d * d;
                }
                total += weight(i) * (0.5 * l);
            }
            break;
        case Loss::poisson:
            for (idx i = 0; i < n; ++i) {
                double l = 0.0;
                for (idx c = 0; c < m; ++c) {
                    const T p = P[i * ldp + c], y = Y[i * ldy + c];
                    const T y_log_y_over_p = y > T(0) ? y * std::log(y / p) : T(0);  // xlogy(y, y / p)
                    l += static_cast<double>(y_log_y_over_p - y + p);
                }
                total += weight(i) * l;
            }
            break;
    }
    return total;
}

// For n rows of the output layer (out, stride ld, m units, holding f(z) of
// training_output_activation) and their targets y (stride ldy) and weights w (nullptr: none):
// completes the output function, writes to loss_runs[r] the (weighted) loss sum of rows
// [kLossRows r, kLossRows (r + 1)), and overwrites out with the delta w (P - Y).  tmp holds
// loss_scratch_size(m) values.
template <class T>
void output_loss_and_delta(Loss loss, idx n, T* out, idx ld, idx m, const T* y, idx ldy, const T* w,
                           double* loss_runs, T* tmp) {
    const bool from_logits = kLossFromLogits<T> && (loss == Loss::binary_log || loss == Loss::softmax_log);
    if (from_logits) {
        for (idx q = 0; q < n; q += kLossRows) {
            const idx rows = std::min(kLossRows, n - q);
            const T* wq = w ? w + q : nullptr;
            loss_runs[q / kLossRows] =
                loss == Loss::binary_log
                    ? binary_log_loss_sum_from_logits(rows, m, out + q * ld, ld, y + q * ldy, ldy, wq, tmp)
                    : softmax_log_loss_sum_from_logits(rows, m, out + q * ld, ld, y + q * ldy, ldy, wq, tmp);
        }
    }
    if (loss == Loss::softmax_log) softmax_rows(n, out, ld, m, tmp);
    if (loss == Loss::poisson)
        for (idx i = 0; i < n; ++i)
            for (idx c = 0; c < m; ++c) out[i * ld + c] = std::exp(out[i * ld + c]);
    for (idx q = 0; !from_logits && q < n; q += kLossRows) {
        const idx rows = std::min(kLossRows, n - q);
        double& run = loss_runs[q / kLossRows];
        if (!w && loss == Loss::binary_log && m == 1)
            run = binary_log_loss_sum(rows, out + q * ld, ld, y + q, tmp);
        else if (!w && loss == Loss::softmax_log)
            run = softmax_log_loss_sum(rows, m, out + q * ld, ld, y + q * ldy, ldy, tmp);
        else
            run = weighted_loss_sum(loss, rows, m, out + q * ld, ld, y + q * ldy, ldy, w ? w + q : nullptr, tmp);
    }
    if (m == 1) binary_log_loss_backward(n, out, ld, y, out, ld);
    else softmax_log_loss_backward(n, m, out, ld, y, ldy);  // P - Y, whatever the loss
    if (w)
        for (idx i = 0; i < n; ++i)
            for (idx c = 0; c < m; ++c) out[i * ld + c] *= w[i];
}

}  // namespace backprop
