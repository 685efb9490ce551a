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

// Returns sum_i log(y_i ? p_i : 1 - p_i) (negated, not divided by n), accumulated in double.
// p has stride ldp.  tmp must hold n values.
template <class T>
double binary_log_loss_sum(idx n, const T* __restrict p, idx ldp, const T* __restrict y, T* __restrict tmp) {
    using V = typename simd<T>::vec;
    constexpr int VW = simd<T>::width;
    const T eps = std::numeric_limits<T>::epsilon();
    bool nan = false;
    idx i = 0;
    if (ldp == 1) {  // contiguous p: whole vectors (the compiler leaves the loop below scalar, as
                     // its NaN-keeping compares become branches); the same values go to tmp
        typename math_vec<T>::I nan_lanes{};
        for (; i + VW <= n; i += VW) {
            const V q = vload<V>(p + i);
            nan_lanes |= q != q;
            V c = q < vbroadcast<V>(eps) ? vbroadcast<V>(eps) : q;
            c = c > vbroadcast<V>(T(1) - eps) ? vbroadcast<V>(T(1) - eps) : c;
            vstore(tmp + i, vload<V>(y + i) != V{} ? c : vbroadcast<V>(T(1)) - c);
        }
        for (int l = 0; l < VW; ++l) nan = nan || nan_lanes[l] != 0;
    }
    for (; i < n; ++i) {
        T q = p[i * ldp];
        nan |= q != q;
        q = q < eps ? eps : q;
        q = q > T(1) - eps ? T(1) - eps : q;
        tmp[i] = y[i] != T(0) ? q : T(1) - q;
    }
    if (nan) return std::numeric_limits<double>::quiet_NaN();  // the vector log does not propagate NaN
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
    const T eps = std::numeric_limits<T>::epsilon();
    bool nan = false;
    for (idx i = 0; i < n; ++i) {
        T s = T(0);
        for (idx c = 0; c < m; ++c) {
            T q = P[i * ldp + c];
            nan |= q != q;
            q = q < eps ? eps : q;
            q = q > T(1) - eps ? T(1) - eps : q;
            s += Y[i * ldy + c] * q;
        }
        tmp[i] = s;
    }
    if (nan) return std::numeric_limits<double>::quiet_NaN();
    return neg_sum_of_logs(n, tmp);
}

// P -= Y over n rows of m columns: the delta of every canonical pair, softmax's included.
template <class T>
void softmax_log_loss_backward(idx n, idx m, T* P, idx ldp, const T* Y, idx ldy) {
    for (idx i = 0; i < n; ++i)
        for (idx c = 0; c < m; ++c) P[i * ldp + c] -= Y[i * ldy + c];
}

enum class Loss : int { binary_log = 0, softmax_log = 1, squared = 2, poisson = 3 };

constexpr idx kLossRows = 32;  // loss sums are taken over fixed runs of rows, whatever the split

// The default loss of a network with m_out output units: one unit is a sigmoid with the binary
// log-loss, more a softmax with the cross-entropy.
constexpr Loss loss_for_outputs(idx m_out) { return m_out >= 2 ? Loss::softmax_log : Loss::binary_log; }

// The activation the output layer's product applies (the softmax normalises across units and
// exp is the poisson output's, so output_loss_and_delta applies those instead).
constexpr Act output_activation(Loss loss) { return loss == Loss::binary_log ? Act::sigmoid : Act::identity; }

// sum_i w_i l_i over n <= kLossRows rows (w_i = 1 when w is nullptr), l_i the loss's per-row sum
// over the m columns; P holds the finished outputs.  The unweighted one-unit log-loss and the
// unweighted softmax take binary_log_loss_sum / softmax_log_loss_sum above.  tmp holds
// max(kLossRows, 64 m) values.
template <class T>
double weighted_loss_sum(Loss loss, idx n, idx m, const T* __restrict P, idx ldp, const T* __restrict Y, idx ldy,
                         const T* __restrict w, T* __restrict tmp) {
    const T eps = std::numeric_limits<T>::epsilon();
    auto weight = [w](idx i) { return w ? static_cast<double>(w[i]) : 1.0; };
    double total = 0.0;
    switch (loss) {
        case Loss::binary_log:
        case Loss::softmax_log: {
            bool nan = false;
            const idx per_row = loss == Loss::binary_log ? m : 1;
            for (idx i = 0; i < n; ++i) {
                T s = T(0);
                for (idx c = 0; c < m; ++c) {
                    T q = P[i * ldp + c];
                    nan |= q != q;
                    q = q < eps ? eps : q;
                    q = q > T(1) - eps ? T(1) - eps : q;
                    if (loss == Loss::binary_log) tmp[i * m + c] = Y[i * ldy + c] != T(0) ? q : T(1) - q;
                    else s += Y[i * ldy + c] * q;
                }
                if (loss == Loss::softmax_log) tmp[i] = s;
            }
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

// For n rows of the output layer (out, stride ld, m units, holding f(z) of output_activation)
// and their targets y (stride ldy) and weights w (nullptr: none): completes the output function,
// writes to loss_runs[r] the (weighted) loss sum of rows [kLossRows r, kLossRows (r + 1)), and
// overwrites out with the delta w (P - Y).  tmp holds max(kLossRows, 64 m) values.
template <class T>
void output_loss_and_delta(Loss loss, idx n, T* out, idx ld, idx m, const T* y, idx ldy, const T* w,
                           double* loss_runs, T* tmp) {
    if (loss == Loss::softmax_log) softmax_rows(n, out, ld, m, tmp);
    if (loss == Loss::poisson)
        for (idx i = 0; i < n; ++i)
            for (idx c = 0; c < m; ++c) out[i * ld + c] = std::exp(out[i * ld + c]);
    for (idx q = 0; q < n; q += kLossRows) {
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
