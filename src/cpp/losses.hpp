// losses.hpp -- the output layer's losses: their value and their delta dJ/dz.
//
// Legend: n = samples, m = output units; P (n, m) the output's activations, row stride ldp;
//         Y (n, m) the targets, row stride ldy (one 0/1 label per row when m = 1).
//
// Each loss comes with the output activation whose derivative cancels against its own, so
// that the output delta is P - Y:
//   binary_log   one sigmoid unit        J = -(1/n) sum_i log(y_i ? p_i : 1 - p_i)
//   softmax_log  softmax over m >= 2     J = -(1/n) sum_i log(sum_c Y[i, c] P[i, c])
// P is clipped to [eps, 1 - eps] inside the log (eps of the dtype), as scikit-learn does.  The
// sums are returned undivided (the 1/n of the mean is applied once, with the batch's n), in
// double.  A new loss (squared error, Poisson) is a Loss value, a *_loss_sum / *_backward pair
// and a case in output_activation and output_loss_and_delta.
// numpy twins: backprop.reference.binary_log_loss, binary_log_loss_backward, softmax_log_loss
// and the P - Y of network_backward.
#pragma once

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

template <class T>
void softmax_log_loss_backward(idx n, idx m, T* P, idx ldp, const T* Y, idx ldy) {
    for (idx i = 0; i < n; ++i)
        for (idx c = 0; c < m; ++c) P[i * ldp + c] -= Y[i * ldy + c];
}

enum class Loss : int { binary_log = 0, softmax_log = 1 };

constexpr idx kLossRows = 32;  // loss sums are taken over fixed runs of rows, whatever the split

// The loss of a network with m_out output units: one unit is a sigmoid with the binary
// log-loss, more a softmax with the cross-entropy.
constexpr Loss loss_for_outputs(idx m_out) { return m_out >= 2 ? Loss::softmax_log : Loss::binary_log; }

// The activation the output layer's product applies (the softmax normalises across units, so
// output_loss_and_delta applies it instead).
constexpr Act output_activation(Loss loss) { return loss == Loss::binary_log ? Act::sigmoid : Act::identity; }

// For n rows of the output layer (out, stride ld, m units, holding f(z) of output_activation)
// and their targets y (stride ldy): completes the output function, writes to loss_runs[r] the
// loss sum of rows [kLossRows r, kLossRows (r + 1)), and overwrites out with the delta P - Y.
// tmp holds max(kLossRows, 64 m) values.
template <class T>
void output_loss_and_delta(Loss loss, idx n, T* out, idx ld, idx m, const T* y, idx ldy, double* loss_runs, T* tmp) {
    switch (loss) {
        case Loss::softmax_log:
            softmax_rows(n, out, ld, m, tmp);
            for (idx q = 0; q < n; q += kLossRows)
                loss_runs[q / kLossRows] =
                    softmax_log_loss_sum(std::min(kLossRows, n - q), m, out + q * ld, ld, y + q * ldy, ldy, tmp);
            softmax_log_loss_backward(n, m, out, ld, y, ldy);
            break;
        case Loss::binary_log:
            for (idx q = 0; q < n; q += kLossRows)
                loss_runs[q / kLossRows] = binary_log_loss_sum(std::min(kLossRows, n - q), out + q * ld, ld, y + q, tmp);
            binary_log_loss_backward(n, out, ld, y, out, ld);
            break;
    }
}

}  // namespace backprop
