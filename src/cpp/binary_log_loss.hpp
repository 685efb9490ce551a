// binary_log_loss.hpp -- mean binary log-loss of the output unit and its delta.
//
// Legend: n = samples; p (n) = a^(L), the sigmoid output; y (n) in {0, 1}.
//   forward:  loss = -(1/n) sum_i log(y_i ? p_i : 1 - p_i), p clipped to [eps, 1 - eps]
//   backward: delta^(L) = dJ/dz^(L) = p - y      (sigmoid and log-loss derivatives combined;
//             the 1/n of the mean is applied once, in the weight gradient)
// numpy twins: backprop.reference.binary_log_loss and binary_log_loss_backward.
#pragma once

#include <limits>

#include "gemm.hpp"
#include "sigmoid.hpp"

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

// Softmax output (m >= 2 units, Y one-hot with row stride ldy):
//   loss:  returns -sum_i log(sum_c Y[i, c] clip(P[i, c], eps, 1 - eps))  (not divided by n)
//   delta: delta[i, c] = P[i, c] - Y[i, c]      (softmax and cross-entropy derivatives combined)
// numpy twins: backprop.reference.softmax_log_loss and the P - Y of network_backward.
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

}  // namespace backprop
