// dense_sigmoid.hpp -- one fully connected sigmoid layer: forward and backward.
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

// a[i, c] = sigmoid(a[i, c]) for c < M: the M valid values of each padded row are gathered into
// whole vectors, mapped, and scattered back.
template <class T, int M>
void sigmoid_narrow(idx n, T* a, idx ld) {
    constexpr idx kRows = 64;
    alignas(64) T packed[kRows * M];
    for (idx r0 = 0; r0 < n; r0 += kRows) {
        const idx rows = std::min(kRows, n - r0);
        T* base = a + r0 * ld;
        for (idx i = 0; i < rows; ++i)
#pragma GCC unroll 8
            for (int c = 0; c < M; ++c) packed[i * M + c] = base[i * ld + c];
        sigmoid_inplace(packed, rows * M);
        for (idx i = 0; i < rows; ++i)
#pragma GCC unroll 8
            for (int c = 0; c < M; ++c) base[i * ld + c] = packed[i * M + c];
    }
}

// a = sigmoid(a_prev W[:, 1:]^T + W[:, 0]) for n rows; Wf = pack_forward(W).  Rows of a are
// padded to whole vectors (lda_out >= round_up(m, W)).  The bias add is part of the product;
// the sigmoid is fused into the product's epilogue while the tile is in registers, except for
// narrow layers (at least half of each vector is padding, e.g. the single output unit): there the
// valid values are gathered into full vectors first, so no sigmoid is spent on padding (the
// padding lanes then hold 0 instead of sigmoid(0); nothing reads them as activations).
template <class T>
void dense_sigmoid_forward(idx n, const T* a_prev, idx lda, const PackedPanels<T>& Wf, T* a, idx lda_out) {
    using V = typename simd<T>::vec;
    constexpr int VW = simd<T>::width;
    const idx m = Wf.m;
    if (round_up(m, VW) < 2 * m) {
        gemm_rows(n, a_prev, lda, Wf, a, lda_out, [](V z, idx, idx) __attribute__((always_inline)) {
            return sigmoid_vec<T>(z);
        });
        return;
    }
    gemm_rows(n, a_prev, lda, Wf, a, lda_out, [](V z, idx, idx) __attribute__((always_inline)) { return z; });
    switch (m) {  // the column count as a constant makes the gather/scatter loops tight
        case 1: sigmoid_narrow<T, 1>(n, a, lda_out); break;
        case 2: sigmoid_narrow<T, 2>(n, a, lda_out); break;
        case 3: sigmoid_narrow<T, 3>(n, a, lda_out); break;
        case 4: sigmoid_narrow<T, 4>(n, a, lda_out); break;
        case 5: sigmoid_narrow<T, 5>(n, a, lda_out); break;
        case 6: sigmoid_narrow<T, 6>(n, a, lda_out); break;
        case 7: sigmoid_narrow<T, 7>(n, a, lda_out); break;
        case 8: sigmoid_narrow<T, 8>(n, a, lda_out); break;
        default: break;  // m <= VW / 2 <= 8
    }
}

// delta_prev = (delta W[:, 1:]) * a_prev * (1 - a_prev) for n rows; Wb = pack_backward(W).
// a_prev and delta_prev share the padded row length ld, and may be the same buffer (delta_prev
// then overwrites a_prev in place: each element is read by the epilogue just before it is
// written, and k is not sliced so no partial sum lands there first).
template <class T>
void dense_sigmoid_backward_delta(idx n, const T* delta, idx ldd, const PackedPanels<T>& Wb,
                                  const T* a_prev, T* delta_prev, idx ld) {  // a_prev may alias delta_prev
    using V = typename simd<T>::vec;
    gemm_rows(n, delta, ldd, Wb, delta_prev, ld, [a_prev, ld](V x, idx r, idx c) __attribute__((always_inline)) {
        const V a = vload<V>(a_prev + r * ld + c);
        return x * (a * (T(1) - a));
    }, /*slice_k=*/0);
}

// G[1 + p, c] += sum_i a_prev[i, p] delta[i, c] for p in [p0, p1), c in [c0, c1), and, when
// with_bias, G[0, c] += sum_i delta[i, c].  c0 and c1 are multiples of the vector width.
template <class T>
void dense_sigmoid_backward_weights(idx n, const T* a_prev, idx lda, const T* delta, idx ldd, T* G,
                                    idx ldg, idx p0, idx p1, idx c0, idx c1, bool with_bias) {
    if (with_bias) column_sums_acc(n, delta, ldd, G, c0, c1);
    gemm_tn_acc(n, a_prev, lda, delta, ldd, G + ldg, ldg, p0, p1, c0, c1);
}

}  // namespace backprop
