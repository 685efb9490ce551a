// narrow_tail.hpp -- the narrow end of a small network, with samples across the vector lanes.
//
// Legend: n = samples, VW = simd<T>::width lanes; tail layer j maps k_j inputs to m_j outputs
//         with W_j of shape (m_j, k_j + 1) (column 0 the bias), as in dense.hpp.
//
// The row layout of the other kernels puts one sample's units across the lanes of a vector.
// Layers with fewer units than lanes waste most of each vector there: the article's 8 -> 3 -> 1
// end fills 3 and 1 of 8 float lanes, and its sigmoids and log-loss are gathered from padded rows.
// Here a block of samples goes through the whole tail unit-major: each unit's values for the
// block are contiguous, so one vector holds one unit's value for VW samples and every lane is a
// sample:
//   forward   z[c] = W[c, 0] + sum_p W[c, 1 + p] a[p]      (broadcast weight times vector)
//             a[c] = f(z[c]);  the last layer: one sigmoid unit, the loss, delta = a - y
//   backward  G[0][c] += delta[c];  G[1 + p][c] += delta[c] a[p]      (summed down the block)
//             delta_prev[p] = (sum_c W[c, 1 + p] delta[c]) f'(a[p])
// The forward values and the deltas take exactly the operations of the row kernels, in the same
// order (bias first, then one fused multiply-add per input in input order; the delta sum from 0
// in output order, times f'), so they are bitwise equal to them.  Only the gradient sums differ:
// they are summed per lane over the block, and the lanes then added in lane order.  That order
// depends on the block only, so results stay identical for any number of threads.
//
// The tail's input (the activations of the last row-layout layer) is read from its padded rows
// and transposed into vectors; the delta of that layer is transposed back over it, which is what
// the row kernels expect to find there.  numpy twin: backprop.reference.train (the same sums).
#pragma once

#include <limits>
#include <utility>
#include <vector>

#include "activations.hpp"
#include "losses.hpp"

namespace backprop {

// One layer of the tail: weights (row-major, (m, k + 1)) and this part's gradient sums
// G[(1 + p) ldg + c] (row 0 the bias), the layout of the gradient sums in sweep.hpp.
template <class T>
struct TailLayer {
    const T* W = nullptr;
    idx k = 0, m = 0;
    T* G = nullptr;
    idx ldg = 0;
};

// Transposes the VW x VW matrix whose rows are r[0..VW) in registers: log2(VW) stages, stage B
// swapping the off-diagonal B x B blocks of every 2B x 2B block (rows i and i + B exchange
// their halves: two shuffles per pair).
template <class V, int B, std::size_t... E>
inline __attribute__((always_inline)) V swap_low(V x, V y, std::index_sequence<E...>) {
    return __builtin_shufflevector(x, y, ((E & B) ? sizeof...(E) + E - B : E)...);
}
template <class V, int B, std::size_t... E>
inline __attribute__((always_inline)) V swap_high(V x, V y, std::index_sequence<E...>) {
    return __builtin_shufflevector(x, y, ((E & B) ? sizeof...(E) + E : E + B)...);
}
template <class T, int B = simd<T>::width / 2>
inline __attribute__((always_inline)) void transpose_square(typename simd<T>::vec* r) {
    constexpr int VW = simd<T>::width;
    if constexpr (B >= 1) {
        using E = std::make_index_sequence<VW>;
#pragma GCC unroll 16
        for (int i = 0; i < VW; ++i)
            if (!(i & B)) {
                const auto lo = swap_low<typename simd<T>::vec, B>(r[i], r[i + B], E{});
                const auto hi = swap_high<typename simd<T>::vec, B>(r[i], r[i + B], E{});
                r[i] = lo;
                r[i + B] = hi;
            }
        transpose_square<T, B / 2>(r);
    }
}

// Values of workspace tail_block needs: every unit of every tail layer's input and output for
// a block of kTailRows samples, and the loss's scratch (kTailRows values: a run of kLossRows
// logits takes 3 round_up(kLossRows, W)).
constexpr idx kTailRows = 256;
static_assert(kTailRows >= 3 * (kLossRows + simd<float>::width));
constexpr idx kTailMaxLayers = 31;  // the most layers a tail may have

template <class T>
idx tail_workspace(const std::vector<TailLayer<T>>& tail) {
    idx units = tail.empty() ? 0 : round_up(tail[0].k, simd<T>::width);  // the input: whole vectors of units
    for (const auto& t : tail) units += t.m;
    return units * kTailRows + kTailRows;
}

// Is the tail worth taking for a layer with k inputs and m outputs: narrower than a vector (the
// row layout wastes lanes), and few enough inputs that the block's transposed input stays small.
template <class T>
bool tail_pays(idx k, idx m) {
    return m < simd<T>::width && k <= 64;
}

// G[(1 + p) ldg] += sum over the block of d in[p] for P <= 8 inputs p at once, and, with_bias,
// G[0] += sum of d (the bias row): P + 1 independent chains of vectors down the block's groups,
// then the lanes added in lane order.
template <class T, int P>
inline void tail_sums(idx groups, const T* d, const T* in, idx ld_unit, T* G, idx ldg, bool with_bias) {
    using V = typename simd<T>::vec;
    constexpr int VW = simd<T>::width;
    V acc[P + 1] = {};
    for (idx g = 0; g < groups; ++g) {
        const V dv = vload<V>(d + g * VW);
        acc[P] += dv;
#pragma GCC unroll 8
        for (int p = 0; p < P; ++p) acc[p] = vmuladd(dv, vload<V>(in + p * ld_unit + g * VW), acc[p]);
    }
    auto hsum = [](const V& v) {
        T s = v[0];
        for (int l = 1; l < VW; ++l) s += v[l];
        return s;
    };
    if (with_bias) G[0] += hsum(acc[P]);
    for (int p = 0; p < P; ++p) G[(1 + p) * ldg] += hsum(acc[p]);
}

// out[g] = epi(init + sum_{s < S} src[s][g] coef[s cstride], g) for the vectors g < groups of one
// unit (src[s] = src + s ld_unit): eight vectors at a time, so that eight independent chains of
// multiply-adds share each broadcast coefficient.  The sum runs from init in s order.
template <class T, class Epi>
inline void combine_units(idx groups, const T* src, idx ld_unit, idx S, const T* coef, idx cstride,
                          typename simd<T>::vec init, T* out, const Epi& epi) {
    using V = typename simd<T>::vec;
    constexpr int VW = simd<T>::width;
    constexpr int G = 8;
    idx g0 = 0;
    for (; g0 + G <= groups; g0 += G) {
        V acc[G];
#pragma GCC unroll 8
        for (int q = 0; q < G; ++q) acc[q] = init;
        for (idx s = 0; s < S; ++s) {
            const V w = vbroadcast<V>(coef[s * cstride]);
#pragma GCC unroll 8
            for (int q = 0; q < G; ++q) acc[q] = vmuladd(vload<V>(src + s * ld_unit + (g0 + q) * VW), w, acc[q]);
        }
#pragma GCC unroll 8
        for (int q = 0; q < G; ++q) vstore(out + (g0 + q) * VW, epi(acc[q], g0 + q));
    }
    for (; g0 < groups; ++g0) {
        V acc = init;
        for (idx s = 0; s < S; ++s) acc = vmuladd(vload<V>(src + s * ld_unit + g0 * VW), vbroadcast<V>(coef[s * cstride]), acc);
        vstore(out + g0 * VW, epi(acc, g0));
    }
}

// One block of `rows` samples (rows <= kTailRows, a multiple of 32 except the last) through the
// tail: a_in (rows x tail[0].k, row stride ld_in: the activations, f = A, of the layer before
// the tail) is replaced by that layer's delta; y holds the 0/1 labels (stride 1) and w the
// sample weights (nullptr: none); the gradient sums are added to each layer's G; loss_runs[r]
// receives the (weighted) loss sum over rows [32 r, 32 r + 32) and the output delta is
// w (p - y), as the row kernels (output_loss_and_delta) compute them.  work holds tail_workspace(tail) values,
// 64-byte aligned.  Within a layer, every unit's values for the block are contiguous (ld_unit
// apart), so each step below runs over independent vectors of VW samples.
template <class T, Act A>
void tail_block(idx rows, T* a_in, idx ld_in, const T* y, const T* w, const std::vector<TailLayer<T>>& tail,
                T* work, double* loss_runs) {
    using V = typename simd<T>::vec;
    constexpr int VW = simd<T>::width;
    constexpr idx kRun = kLossRows;
    const idx n_layers = static_cast<idx>(tail.size());
    const idx groups = (rows + VW - 1) / VW, ld_unit = groups * VW;
    // layer j's input units start at in_at(j) (j = 0: a_in transposed), its output at in_at(j + 1)
    T* in_at[kTailMaxLayers + 1];  // (no allocation: this runs on the fit's threads)
    T* next = work;
    for (idx j = 0; j <= n_layers; ++j) {
        in_at[j] = next;
        next += (j == 0 ? round_up(tail[0].k, VW) : j < n_layers ? tail[j].k : tail[j - 1].m) * ld_unit;
    }
    T* const tmp = work + tail_workspace(tail) - kTailRows;
    const idx k0 = tail[0].k;
    // ---- a_in rows -> units, VW x VW squares at a time (a_in's rows are padded to whole
    // vectors); the lanes past `rows` of the last group: 0
    const idx k0_pad = round_up(k0, VW), full = rows / VW * VW;
    for (idx i0 = 0; i0 < full; i0 += VW)
        for (idx p0 = 0; p0 < k0_pad; p0 += VW) {
            V r[VW];
            for (int q = 0; q < VW; ++q) r[q] = vload<V>(a_in + (i0 + q) * ld_in + p0);
            transpose_square<T>(r);
            for (int q = 0; q < VW; ++q) vstore(in_at[0] + (p0 + q) * ld_unit + i0, r[q]);
        }
    for (idx p = 0; p < k0 && full < rows; ++p) {
        T* dst = in_at[0] + p * ld_unit;
        for (idx i = full; i < rows; ++i) dst[i] = a_in[i * ld_in + p];
        for (idx i = rows; i < ld_unit; ++i) dst[i] = T(0);
    }
    // ---- forward: z, then f over each unit's values (the last layer: the sigmoid)
    for (idx j = 0; j < n_layers; ++j) {
        const TailLayer<T>& t = tail[j];
        const T* in = in_at[j];
        T* out = in_at[j + 1];
        for (idx c = 0; c < t.m; ++c) {
            const T* w = t.W + c * (t.k + 1);
            combine_units(groups, in, ld_unit, t.k, w + 1, 1, vbroadcast<V>(w[0]), out + c * ld_unit,
                          [](V z, idx) __attribute__((always_inline)) { return z; });
        }
        if (j < n_layers - 1) act_inplace<T, A>(out, t.m * ld_unit);
        else if (!kLossFromLogits<T>) act_inplace<T, Act::sigmoid>(out, ld_unit);  // (else with the loss)
    }
    // ---- the loss over runs of 32 rows, and the output delta w (p - y) (past `rows`: 0)
    T* const p_out = in_at[n_layers];
    for (idx q = 0; q < rows; q += kRun)
        loss_runs[q / kRun] =
            kLossFromLogits<T>
                ? binary_log_loss_sum_from_logits<T>(std::min(kRun, rows - q), 1, p_out + q, 1, y + q, 1, w ? w + q : nullptr, tmp)
            : w ? weighted_loss_sum(Loss::binary_log, std::min(kRun, rows - q), 1, p_out + q, 1, y + q, 1, w + q, tmp)
                : binary_log_loss_sum(std::min(kRun, rows - q), p_out + q, 1, y + q, tmp);
    binary_log_loss_backward(rows, p_out, 1, y, p_out, 1);
    if (w)
        for (idx i = 0; i < rows; ++i) p_out[i] *= w[i];
    for (idx i = rows; i < ld_unit; ++i) p_out[i] = T(0);
    // ---- backward: each layer's gradient sums, then the delta of its input (in place)
    for (idx j = n_layers - 1; j >= 0; --j) {
        const TailLayer<T>& t = tail[j];
        T* in = in_at[j];
        const T* d = in_at[j + 1];
        for (idx c = 0; c < t.m; ++c) {
            const T* dc = d + c * ld_unit;
            T* Gc = t.G + c;
            idx p = 0;
            for (; p + 8 <= t.k; p += 8) tail_sums<T, 8>(groups, dc, in + p * ld_unit, ld_unit, Gc + p * t.ldg, t.ldg, p == 0);
            switch (t.k - p) {
                case 7: tail_sums<T, 7>(groups, dc, in + p * ld_unit, ld_unit, Gc + p * t.ldg, t.ldg, p == 0); break;
                case 6: tail_sums<T, 6>(groups, dc, in + p * ld_unit, ld_unit, Gc + p * t.ldg, t.ldg, p == 0); break;
                case 5: tail_sums<T, 5>(groups, dc, in + p * ld_unit, ld_unit, Gc + p * t.ldg, t.ldg, p == 0); break;
                case 4: tail_sums<T, 4>(groups, dc, in + p * ld_unit, ld_unit, Gc + p * t.ldg, t.ldg, p == 0); break;
                case 3: tail_sums<T, 3>(groups, dc, in + p * ld_unit, ld_unit, Gc + p * t.ldg, t.ldg, p == 0); break;
                case 2: tail_sums<T, 2>(groups, dc, in + p * ld_unit, ld_unit, Gc + p * t.ldg, t.ldg, p == 0); break;
                case 1: tail_sums<T, 1>(groups, dc, in + p * ld_unit, ld_unit, Gc + p * t.ldg, t.ldg, p == 0); break;
                default: break;
            }
        }
        for (idx p = 0; p < t.k; ++p) {
            T* inp = in + p * ld_unit;
            combine_units(groups, d, ld_unit, t.m, t.W + 1 + p, t.k + 1, V{}, inp,
                          [inp](V x, idx g) __attribute__((always_inline)) {
                              return act_grad_vec<T, A>(x, vload<V>(inp + g * VW));
                          });
        }
    }
    // ---- the delta of a_in's layer, back into its rows
    for (idx i0 = 0; i0 < full; i0 += VW)
        for (idx p0 = 0; p0 < k0_pad; p0 += VW) {  // (the padding columns get back what they held)
            V r[VW];
            for (int q = 0; q < VW; ++q) r[q] = vload<V>(in_at[0] + (p0 + q) * ld_unit + i0);
            transpose_square<T>(r);
            for (int q = 0; q < VW; ++q) vstore(a_in + (i0 + q) * ld_in + p0, r[q]);
        }
    for (idx p = 0; p < k0 && full < rows; ++p) {
        const T* src = in_at[0] + p * ld_unit;
        for (idx i = full; i < rows; ++i) a_in[i * ld_in + p] = src[i];
    }
}

// tail_block with the hidden activation chosen at run time.
template <class T>
void tail_block(Act act, idx rows, T* a_in, idx ld_in, const T* y, const T* w, const std::vector<TailLayer<T>>& tail,
                T* work, double* loss_runs) {
    with_act(act, [&](auto A) { tail_block<T, decltype(A)::value>(rows, a_in, ld_in, y, w, tail, work, loss_runs); });
}

}  // namespace backprop
