// dense.hpp -- one fully connected layer: the packed weights, the forward product with the
// activation fused, the delta to the previous layer and the weight-gradient product.
//
// Legend: n = samples, k = inputs of the layer, m = outputs of the layer.
//   W        (m, k + 1)  the article's layout: column 0 is the bias b, columns 1.. are the weights
//   a_prev   (n, k)      activations of the previous layer (X for the first layer)
//   a        (n, m)      this layer's activations   } both stored with rows padded to whole
//   delta    (n, m)      dL/dz of this layer          } vectors: ld = round_up(m, W)
//   G        (k + 1, m)  transposed, unscaled weight gradient: G[0] = sum_i delta[i],
//                        G[1 + p] = sum_i a_prev[i, p] delta[i]   so that dW = G^T / n
//
//   forward:  a = f(a_prev @ W[:, 1:].T + W[:, 0])
//   backward: dW[:, 0] = delta.sum(0) / n;  dW[:, 1:] = delta.T @ a_prev / n
//             delta_prev = (delta @ W[:, 1:]) * f'(z_prev), f' written through a_prev
// numpy twins: backprop.reference.dense_forward and dense_backward (dense_sigmoid_forward and
// dense_sigmoid_backward with f the sigmoid).  dense_layer_forward / dense_layer_backward run
// one layer on plain (n, k) arrays, for the kernel tests.
#pragma once

#include <algorithm>
#include <utility>

#include "activations.hpp"
#include "gemm.hpp"
#include "parallel.hpp"

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
    with_act(act, [&](auto A) { dense_forward<T, decltype(A)::value>(n, a_prev, lda, Wf, a, lda_out); });
}

// One stage of an in-register transpose of VW vectors r[0..VW) (see transpose_vectors): rows i
// and i + S swap the elements where bit S of the lane index differs from bit S of the row index.
template <int VW, int S>
constexpr int keep_low_lane(int q) { return (q & S) ? VW + q - S : q; }
template <int VW, int S>
constexpr int keep_high_lane(int q) { return (q & S) ? VW + q : q + S; }

template <class V, int VW, int S, int... Q>
inline __attribute__((always_inline)) void transpose_stage(V* r, std::integer_sequence<int, Q...>) {
#pragma GCC unroll 16
    for (int i = 0; i < VW; ++i) {
        if (i & S) continue;
        const V x = r[i], y = r[i + S];
        r[i] = __builtin_shufflevector(x, y, keep_low_lane<VW, S>(Q)...);
        r[i + S] = __builtin_shufflevector(x, y, keep_high_lane<VW, S>(Q)...);
    }
}

// r[q][j] becomes r[j][q] (VW vectors of VW lanes): log2 VW stages of two-vector shuffles.
template <class V, int VW, int S = 1>
inline __attribute__((always_inline)) void transpose_vectors(V* r) {
    if constexpr (S < VW) {
        transpose_stage<V, VW, S>(r, std::make_integer_sequence<int, VW>{});
        transpose_vectors<V, VW, 2 * S>(r);
    }
}

// dst[c * ldd + r] = src[r * lds + c] for r, c < VW: one VW x VW block, transposed in registers.
template <class V, class T>
inline __attribute__((always_inline)) void transpose_block(const T* src, idx lds, T* dst, idx ldd) {
    constexpr int VW = static_cast<int>(sizeof(V) / sizeof(T));
    V r[VW];
#pragma GCC unroll 16
    for (int i = 0; i < VW; ++i) r[i] = vload<V>(src + i * lds);
    transpose_vectors<V, VW>(r);
#pragma GCC unroll 16
    for (int c = 0; c < VW; ++c) vstore(dst + c * ldd, r[c]);
}

// VW values from src, of which only those before `end` are read (the others are 0).
template <class V, class T>
inline V vload_until(const T* src, const T* end) {
    constexpr int VW = static_cast<int>(sizeof(V) / sizeof(T));
    if (src + VW <= end) return vload<V>(src);
    alignas(64) T tmp[VW] = {};
    std::copy(src, end, tmp);
    return vload<V>(tmp);
}

// z[c] = W[c, 0] + sum_p a_prev[p] W[c, 1 + p] for the NV * VW columns c = c0 + ... of W (m rows
// of stride ldw, ending at end: lanes past m repeat column m - 1, and nothing reads them), by
// the arithmetic of gemm_tile: a vector of the biases, then acc += broadcast(a_prev[p]) * b_p
// for p = 0..k-1 in order, b_p the column slice W[c0.., 1 + p], read VW inputs at a time and
// transposed in registers.  NV vectors side by side: independent chains that overlap their
// multiply-add latency.
template <class T, int NV>
inline __attribute__((always_inline)) void row_logits(const T* a_prev, idx k, const T* W, idx ldw, idx m, idx c0,
                                                      T* z) {
    using V = typename simd<T>::vec;
    constexpr int VW = simd<T>::width;
    const T* const end = W + m * ldw;
    const T* const last_row = W + (m - 1) * ldw;
    const T* rows[NV][VW];
    V acc[NV];
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v)
#pragma GCC unroll 16
        for (int j = 0; j < VW; ++j) {
            rows[v][j] = W + std::min<idx>(c0 + v * VW + j, m - 1) * ldw;
            acc[v][j] = rows[v][j][0];
        }
    for (idx p = 0; p < k; p += VW) {
        const idx len = std::min<idx>(VW, k - p);  // the last slice may be short: its other lanes are not used
#pragma GCC unroll 16
        for (int v = 0; v < NV; ++v) {
            V b[VW];
            if (len == VW) {
#pragma GCC unroll 16
                for (int j = 0; j < VW; ++j) b[j] = vload<V>(rows[v][j] + 1 + p);
            } else {  // the last row's slice, read once for every lane that repeats it
                const V last = vload_until<V>(last_row + 1 + p, end);
#pragma GCC unroll 16
                for (int j = 0; j < VW; ++j) b[j] = rows[v][j] == last_row ? last : vload_until<V>(rows[v][j] + 1 + p, end);
            }
            transpose_vectors<V, VW>(b);
            if (len == VW) {
#pragma GCC unroll 16
                for (int q = 0; q < VW; ++q) acc[v] = vmuladd(vbroadcast<V>(a_prev[p + q]), b[q], acc[v]);
            } else {
                for (idx q = 0; q < len; ++q) acc[v] = vmuladd(vbroadcast<V>(a_prev[p + q]), b[q], acc[v]);
            }
        }
    }
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) vstore(z + c0 + v * VW, acc[v]);
}

// row_logits for a layer of one unit (a binary output): z[0] = W[0] + sum_p a_prev[p] W[1 + p] in
// lane 0, by the same vector multiply-adds (b_p = the VW weights from W[1 + p] on: lane 0 holds
// W[1 + p], the other lanes values that nothing reads), with no transposes.
template <class T>
inline __attribute__((always_inline)) void row_logit_single(const T* a_prev, idx k, const T* W, T* z) {
    using V = typename simd<T>::vec;
    constexpr int VW = simd<T>::width;
    V acc = vbroadcast<V>(W[0]);
    idx p = 0;
    for (; p + VW <= k; ++p) acc = vmuladd(vbroadcast<V>(a_prev[p]), vload<V>(W + 1 + p), acc);
    alignas(64) T tail[2 * VW] = {};  // the last inputs, so that no load passes the end of W
    std::copy(W + 1 + p, W + 1 + k, tail);
    for (idx q = 0; p < k; ++p, ++q) acc = vmuladd(vbroadcast<V>(a_prev[p]), vload<V>(tail + q), acc);
    vstore(z, acc);
}

// dense_forward for one row, reading W (m, k + 1) as it is, unpacked: for a single row, packing
// the weights costs more than the product.  The values are dense_forward's bit for bit: each z
// is accumulated as gemm_tile accumulates it (row_logits), and f is the same elementwise
// function.  a holds round_up(m, W) values (those past m are not the layer's).
template <class T, Act A>
void dense_forward_row(const T* a_prev, idx k, const T* W, idx m, T* a) {
    using V = typename simd<T>::vec;
    constexpr int VW = simd<T>::width;
    constexpr int NV = 4;
    const idx ldw = k + 1, ld = round_up(m, VW);
    if (m == 1) {
        row_logit_single(a_prev, k, W, a);
    } else {
        idx c0 = 0;
        for (; c0 + NV * VW <= ld; c0 += NV * VW) row_logits<T, NV>(a_prev, k, W, ldw, m, c0, a);
        with_tile_count<NV - 1>((ld - c0) / VW,
                                [&](auto R) { row_logits<T, decltype(R)::value>(a_prev, k, W, ldw, m, c0, a); });
    }
    // f lane by lane, the function of dense_forward's epilogue and of its narrow gather alike (a
    // narrow layer's one row is one vector either way)
    for (idx q = 0; q < ld; q += VW) vstore(a + q, act_vec<T, A>(vload<V>(a + q)));
}

template <class T>
void dense_forward_row(Act act, const T* a_prev, idx k, const T* W, idx m, T* a) {
    with_act(act, [&](auto A) { dense_forward_row<T, decltype(A)::value>(a_prev, k, W, m, a); });
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
    with_act(act, [&](auto A) {
        dense_backward_delta<T, decltype(A)::value>(n, delta, ldd, Wb, a_prev, delta_prev, ld);
    });
}

// G[1 + p, c] += sum_i a_prev[i, p] delta[i, c] for p in [p0, p1), c in [c0, c1), and, when
// with_bias, G[0, c] += sum_i delta[i, c].  c0 and c1 are multiples of the vector width.
template <class T>
void dense_backward_weights(idx n, const T* a_prev, idx lda, const T* delta, idx ldd, T* G, idx ldg, idx p0, idx p1,
                            idx c0, idx c1, bool with_bias) {
    gemm_tn_acc(n, a_prev, lda, delta, ldd, G + ldg, ldg, p0, p1, c0, c1, with_bias ? G : nullptr);
}

// W packed for both products of a layer (the first layer needs no delta product: nobody needs
// dJ/dX, so it has no backward copy).
template <class T>
struct PackedLayer {
    Buffer<T> fwd_data, fwd_init, bwd_data;
    PackedPanels<T> fwd, bwd;
    bool has_bwd;
    PackedLayer(idx k, idx m, bool need_bwd = true)
        : fwd_data(PackedPanels<T>::size(k, m)), fwd_init(round_up(m, simd<T>::width)),
          bwd_data(need_bwd ? PackedPanels<T>::size(m, k) : 0), has_bwd(need_bwd) {
        fwd.data = fwd_data.get();
        fwd.init = fwd_init.get();
        bwd.data = need_bwd ? bwd_data.get() : nullptr;
    }
    void pack(const T* W, idx k, idx m) {
        pack_forward(W, m, k, fwd);
        if (has_bwd) pack_backward(W, m, k, bwd);
    }
};

// One layer on plain row-major arrays: a (n, m) = f(a_prev (n, k) W[:, 1:]^T + W[:, 0]),
// W (m, k + 1).  The kernels' padded rows go through a buffer of their own.
template <class T>
void dense_layer_forward(T* a, const T* a_prev, const T* W, idx n, idx k, idx m, Act act) {
    if (n == 0 || m == 0) return;
    PackedLayer<T> P(k, m, /*need_bwd=*/false);
    pack_forward(W, m, k, P.fwd);
    const idx ld = round_up(m, simd<T>::width);
    Buffer<T> out(n * ld);
    dense_forward<T>(act, n, a_prev, k, P.fwd, out.get(), ld);
    for (idx i = 0; i < n; ++i) std::copy(out.get() + i * ld, out.get() + i * ld + m, a + i * m);
}

// One layer backward on plain row-major arrays, given delta (n, m) = dJ/dz (without the 1/n),
// n >= 1:  dW (m, k + 1) = [delta.sum(0), delta^T a_prev] / n;  delta_prev (n, k) =
// (delta W[:, 1:]) * f'(z_prev), f' written through a_prev (skipped when delta_prev is null).
template <class T>
void dense_layer_backward(T* dW, T* delta_prev, const T* a_prev, const T* W, const T* delta, idx n, idx k, idx m,
                          Act act) {
    constexpr int VW = simd<T>::width;
    const idx m_pad = round_up(m, VW);
    Buffer<T> D(n * m_pad);  // delta with rows padded to whole vectors (the kernels read full vectors)
    for (idx i = 0; i < n; ++i)
        for (idx c = 0; c < m; ++c) D.get()[i * m_pad + c] = delta[i * m + c];
    Buffer<T> G((k + 1) * m_pad);
    dense_backward_weights<T>(n, a_prev, k, D.get(), m_pad, G.get(), m_pad, 0, k, 0, m_pad, true);
    for (idx j = 0; j < m; ++j)
        for (idx q = 0; q <= k; ++q) dW[j * (k + 1) + q] = G.get()[q * m_pad + j] / static_cast<T>(n);
    if (!delta_prev) return;
    PackedLayer<T> P(k, m);
    pack_backward(W, m, k, P.bwd);
    const idx k_pad = round_up(k, VW);  // a_prev and delta_prev with padded rows, as the kernel expects
    Buffer<T> A(n * k_pad), Dp(n * k_pad);
    for (idx i = 0; i < n; ++i) std::copy(a_prev + i * k, a_prev + (i + 1) * k, A.get() + i * k_pad);
    dense_backward_delta<T>(act, n, D.get(), m_pad, P.bwd, A.get(), Dp.get(), k_pad);
    for (idx i = 0; i < n; ++i) std::copy(Dp.get() + i * k_pad, Dp.get() + i * k_pad + k, delta_prev + i * k);
}

}  // namespace backprop
