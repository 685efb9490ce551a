// activations.hpp -- the layers' activation functions, their derivatives and the softmax.
//
// Legend: n = rows, m = values per row, ld = row stride (rows padded to whole vectors).
//
// A hidden layer applies f elementwise; each derivative is written through the activation's
// value a = f(z), which is what lets the deltas overwrite the activations in place:
//   sigmoid  a = 1 / (1 + exp(-z))    f'(z) = a (1 - a)
//   tanh     a = tanh(z)              f'(z) = 1 - a^2
//   relu     a = max(z, 0)            f'(z) = 1 if a > 0 else 0   (NaN stays NaN, as np.maximum)
//   identity a = z                    f'(z) = 1
// The output layer is one sigmoid unit or a softmax over its units (see losses.hpp).
// numpy twins: backprop.reference.activation, activation_derivative and softmax.
//
// Kernels take the activation as a template parameter (it is applied inside their inner
// loops); with_act turns the run-time choice into that parameter, once per call.
#pragma once

#include <algorithm>
#include <type_traits>

#include "simd.hpp"
#include "vecmath.hpp"

namespace backprop {

enum class Act : int { sigmoid = 0, tanh = 1, relu = 2, identity = 3 };

// f(std::integral_constant<Act, act>{}): calls the instantiation of f for the run-time act.
// Use as  with_act(act, [&](auto A) { kernel<T, decltype(A)::value>(...); }).
template <class F>
inline __attribute__((always_inline)) decltype(auto) with_act(Act act, F&& f) {
    switch (act) {
        case Act::sigmoid: return f(std::integral_constant<Act, Act::sigmoid>{});
        case Act::tanh: return f(std::integral_constant<Act, Act::tanh>{});
        case Act::relu: return f(std::integral_constant<Act, Act::relu>{});
        case Act::identity: break;
    }
    return f(std::integral_constant<Act, Act::identity>{});
}

// f(z) for one vector (used inside the products' epilogues).
template <class T, Act A>
inline __attribute__((always_inline)) typename simd<T>::vec act_vec(typename simd<T>::vec z) {
    using V = typename simd<T>::vec;
    if constexpr (A == Act::sigmoid) return sigmoid_vec<T>(z);
    else if constexpr (A == Act::tanh) return tanh_group<T, 1>(group<V, 1>{{z}}).x[0];
    else if constexpr (A == Act::relu) return (z > V{}) | (z != z) ? z : V{};  // z != z: NaN, kept
    else return z;
}

// dL/dz = x f'(z), with f'(z) written through a = f(z).
template <class T, Act A>
inline __attribute__((always_inline)) typename simd<T>::vec act_grad_vec(typename simd<T>::vec x,
                                                                         typename simd<T>::vec a) {
    using V = typename simd<T>::vec;
    if constexpr (A == Act::sigmoid) return x * (a * (T(1) - a));
    else if constexpr (A == Act::tanh) return x * (T(1) - a * a);
    else if constexpr (A == Act::relu) return x * (a > V{} ? vbroadcast<V>(T(1)) : V{});
    else return x;
}

// a[i] = f(a[i]) for i < n, in place (sigmoid and tanh: four vectors at a time).
template <class T, Act A>
void act_inplace(T* __restrict a, idx n) {
    if constexpr (A == Act::sigmoid) sigmoid_inplace(a, n);
    else if constexpr (A == Act::tanh) tanh_inplace(a, n);
    else if constexpr (A == Act::relu) for (idx i = 0; i < n; ++i) a[i] = a[i] > T(0) || a[i] != a[i] ? a[i] : T(0);
}

template <class T>
void act_inplace(Act act, T* a, idx n) {
    with_act(act, [&](auto A) { act_inplace<T, decltype(A)::value>(a, n); });
}

// a[i, c] = f(a[i, c]) for the first m values of n rows of stride ld.
template <class T>
void act_rows(Act act, idx n, T* a, idx ld, idx m) {
    with_act(act, [&](auto A) {
        for (idx i = 0; i < n; ++i) act_inplace<T, decltype(A)::value>(a + i * ld, m);
    });
}

// a[i, c] = f(a[i, c]) for c < M: the M valid values of each padded row are gathered into
// whole vectors, mapped, and scattered back.
template <class T, int M, Act A>
void act_narrow(idx n, T* a, idx ld) {
    constexpr idx kRows = 64;
    alignas(64) T packed[kRows * M];
    for (idx r0 = 0; r0 < n; r0 += kRows) {
        const idx rows = std::min(kRows, n - r0);
        T* base = a + r0 * ld;
        for (idx i = 0; i < rows; ++i)
#pragma GCC unroll 8
            for (int c = 0; c < M; ++c) packed[i * M + c] = base[i * ld + c];
        act_inplace<T, A>(packed, rows * M);
        for (idx i = 0; i < rows; ++i)
#pragma GCC unroll 8
            for (int c = 0; c < M; ++c) base[i * ld + c] = packed[i * M + c];
    }
}

// Softmax over the first m values of each of n padded rows, in place:
// P[i, c] = exp(z[i, c] - max_c z[i, c]) / sum_c exp(z[i, c] - max_c z[i, c]).  The shifted
// logits of up to 64 rows are gathered into whole vectors for the exp.
template <class T>
void softmax_rows(idx n, T* a, idx ld, idx m, T* tmp /* 64 * m values */) {
    constexpr idx kRows = 64;
    for (idx r0 = 0; r0 < n; r0 += kRows) {
        const idx rows = std::min(kRows, n - r0);
        T* base = a + r0 * ld;
        for (idx i = 0; i < rows; ++i) {
            T mx = base[i * ld];
            for (idx c = 1; c < m; ++c) mx = base[i * ld + c] > mx ? base[i * ld + c] : mx;
            for (idx c = 0; c < m; ++c) tmp[i * m + c] = base[i * ld + c] - mx;
        }
        exp_nonpositive_inplace(tmp, rows * m);
        for (idx i = 0; i < rows; ++i) {
            T sum = T(0);
            for (idx c = 0; c < m; ++c) sum += tmp[i * m + c];
            for (idx c = 0; c < m; ++c) base[i * ld + c] = tmp[i * m + c] / sum;
        }
    }
}

}  // namespace backprop
