// dense_sigmoid.hpp -- one fully connected layer (the article's sigmoid, or tanh, relu,
// identity): forward and backward, and the softmax output.
//
// Legend: n = samples, k = inputs of the layer, m = outputs of the layer.
//   W        (m, k + 1)  the article's layout: column 0 is the bias b, columns 1.. are the weights
//   a_prev   (n, k)      activations of the previous layer (X for the first layer)
//   a        (n, m)      this layer's activations   } both stored with rows padded to whole
//   delta    (n, m)      dL/dz of this layer          } vectors: ld = round_up(m, W)
//   G        (k + 1, m)  transposed, unscaled weight gradient: G[0] = sum_i delta[i],
//                        G[1 + p] = sum_i a_prev[i, p] delta[i]   so that dW = G^T / n
//
// The numpy twins are backprop.reference.dense_sigmoid_forward and dense_sigmoid_backward:
//   forward:  a = sigmoid(a_prev @ W[:, 1:].T + W[:, 0])
//   backward: dW[:, 0] = delta.sum(0) / n;  dW[:, 1:] = delta.T @ a_prev / n
//             delta_prev = (delta @ W[:, 1:]) * a_prev * (1 - a_prev)
#pragma once

#include "gemm.hpp"
#include "sigmoid.hpp"

namespace backprop {

// Packs W for the forward product: B[p, c] = W[c, 1 + p] (k x m panels), init[c] = W[c, 0].
template <class T>
void pack_forward(const T* W, idx m, idx k, PackedPanels<T>& out) {
    out.k = k;
    out.m = m;
    pack_panels(k, m, W + 1, /*ld_p=*/1, /*ld_c=*/k + 1, out.data);
    for (idx c = 0; c < round_up(m, simd<T>::width); ++c) out.init[c] = c < m ? W[c * (k + 1)] : T(0);
}

// Packs W for the delta product: B[p, c] = W[p, 1 + c] (m x k panels), no init.
template <class T>
void pack_backward(const T* W, idx m, idx k, PackedPanels<T>& out) {
    out.k = m;
    out.m = k;
    out.init = nullptr;
    pack_panels(m, k, W + 1, /*ld_p=*/k + 1, /*ld_c=*/1, out.data);
}

// Index of element (p, c) inside a PackedPanels buffer.
template <class T>
inline idx packed_index(const PackedPanels<T>& P, idx p, idx c) {
    constexpr int W = simd<T>::width;
    const idx c0 = c / (2 * W) * (2 * W);
    return P.k * c0 + p * P.panel_width(c0) + (c - c0);
}

// The hidden layers' activation functions (the output layer is a sigmoid unit or a softmax).
// Each derivative is written through the activation's value a = f(z), which is what lets the
// deltas overwrite the activations in place:
//   sigmoid  a = 1 / (1 + exp(-z))    f'(z) = a (1 - a)
//   tanh     a = tanh(z)              f'(z) = 1 - a^2
//   relu     a = max(z, 0)            f'(z) = 1 if a > 0 else 0
//   identity a = z                    f'(z) = 1
// numpy twins: backprop.reference.activation and activation_derivative.
enum class Act : int { sigmoid = 0, tanh = 1, relu = 2, identity = 3 };

// f(z) for one vector (used inside the product's epilogue).
template <class T, Act A>
inline __attribute__((always_inline)) typename simd<T>::vec act_vec(typename simd<T>::vec z) {
    using V = typename simd<T>::vec;
    if constexpr (A == Act::sigmoid) return sigmoid_vec<T>(z);
    else if constexpr (A == Act::tanh) return tanh_group<T, 1>(group<V, 1>{{z}}).x[0];
    else if constexpr (A == Act::relu) return z > V{} ? z : V{};
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
    else if constexpr (A == Act::relu) for (idx i = 0; i < n; ++i) a[i] = a[i] > T(0) ? a[i] : T(0);
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

// a = f(a_prev W[:, 1:]^T + W[:, 0]) for n rows; Wf = pack_forward(W).  Rows of a are padded to
// whole vectors (lda_out >= round_up(m, W)).  The bias add is part of the product; f is fused
// into the product's epilogue while the tile is in registers, except for the expensive f
// (sigmoid, tanh) on narrow layers (at least half of each vector is padding, e.g. the single
// output unit): there the valid values are gathered into full vectors first, so no exp is
// spent on padding (the padding lanes then hold z instead of f(z); nothing reads them).
template <class T, Act A>
void dense_forward(idx n, const T* a_prev, idx lda, const PackedPanels<T>& Wf, T* a, idx lda_out) {
    using V = typename simd<T>::vec;
    constexpr int VW = simd<T>::width;
    const idx m = Wf.m;
    constexpr bool cheap = A == Act::relu || A == Act::identity;
    if (cheap || round_up(m, VW) < 2 * m) {
        gemm_rows(n, a_prev, lda, Wf, a, lda_out, [](V z, idx, idx) __attribute__((always_inline)) {
            return act_vec<T, A>(z);
        });
        return;
    }
    gemm_rows(n, a_prev, lda, Wf, a, lda_out, [](V z, idx, idx) __attribute__((always_inline)) { return z; });
    if constexpr (!cheap) {
        switch (m) {  // the column count as a constant makes the gather/scatter loops tight
            case 1: act_narrow<T, 1, A>(n, a, lda_out); break;
            case 2: act_narrow<T, 2, A>(n, a, lda_out); break;
            case 3: act_narrow<T, 3, A>(n, a, lda_out); break;
            case 4: act_narrow<T, 4, A>(n, a, lda_out); break;
            case 5: act_narrow<T, 5, A>(n, a, lda_out); break;
            case 6: act_narrow<T, 6, A>(n, a, lda_out); break;
            case 7: act_narrow<T, 7, A>(n, a, lda_out); break;
            case 8: act_narrow<T, 8, A>(n, a, lda_out); break;
            default: break;  // m <= VW / 2 <= 8
        }
    }
}

// dense_forward with the activation chosen at run time.
template <class T>
void dense_forward(Act act, idx n, const T* a_prev, idx lda, const PackedPanels<T>& Wf, T* a, idx lda_out) {
    switch (act) {
        case Act::sigmoid: dense_forward<T, Act::sigmoid>(n, a_prev, lda, Wf, a, lda_out); break;
        case Act::tanh: dense_forward<T, Act::tanh>(n, a_prev, lda, Wf, a, lda_out); break;
        case Act::relu: dense_forward<T, Act::relu>(n, a_prev, lda, Wf, a, lda_out); break;
        case Act::identity: dense_forward<T, Act::identity>(n, a_prev, lda, Wf, a, lda_out); break;
    }
}

// delta_prev = (delta W[:, 1:]) * f'(z_prev) for n rows, f' written through a_prev = f(z_prev)
// (sigmoid: a_prev (1 - a_prev)); Wb = pack_backward(W).  a_prev and delta_prev share the padded
// row length ld, and may be the same buffer (delta_prev then overwrites a_prev in place: each
// element is read by the epilogue just before it is written, and k is not sliced so no partial
// sum lands there first).
template <class T, Act A>
void dense_backward_delta(idx n, const T* delta, idx ldd, const PackedPanels<T>& Wb, const T* a_prev,
                          T* delta_prev, idx ld) {  // a_prev may alias delta_prev
    using V = typename simd<T>::vec;
    gemm_rows(n, delta, ldd, Wb, delta_prev, ld, [a_prev, ld](V x, idx r, idx c) __attribute__((always_inline)) {
        return act_grad_vec<T, A>(x, vload<V>(a_prev + r * ld + c));
    }, /*slice_k=*/0);
}

template <class T>
void dense_backward_delta(Act act, idx n, const T* delta, idx ldd, const PackedPanels<T>& Wb, const T* a_prev,
                          T* delta_prev, idx ld) {
    switch (act) {
        case Act::sigmoid: dense_backward_delta<T, Act::sigmoid>(n, delta, ldd, Wb, a_prev, delta_prev, ld); break;
        case Act::tanh: dense_backward_delta<T, Act::tanh>(n, delta, ldd, Wb, a_prev, delta_prev, ld); break;
        case Act::relu: dense_backward_delta<T, Act::relu>(n, delta, ldd, Wb, a_prev, delta_prev, ld); break;
        case Act::identity: dense_backward_delta<T, Act::identity>(n, delta, ldd, Wb, a_prev, delta_prev, ld); break;
    }
}

// Softmax over the first m values of each of n padded rows, in place:
// P[i, c] = exp(z[i, c] - max_c z[i, c]) / sum_c exp(z[i, c] - max_c z[i, c]).  The shifted
// logits of up to 64 rows are gathered into whole vectors for the exp.  numpy twin:
// backprop.reference.softmax.
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

// G[1 + p, c] += sum_i a_prev[i, p] delta[i, c] for p in [p0, p1), c in [c0, c1), and, when
// with_bias, G[0, c] += sum_i delta[i, c].  c0 and c1 are multiples of the vector width.
template <class T>
void dense_sigmoid_backward_weights(idx n, const T* a_prev, idx lda, const T* delta, idx ldd, T* G,
                                    idx ldg, idx p0, idx p1, idx c0, idx c1, bool with_bias) {
    gemm_tn_acc(n, a_prev, lda, delta, ldd, G + ldg, ldg, p0, p1, c0, c1, with_bias ? G : nullptr);
}

}  // namespace backprop
