// gemm.hpp -- the two matrix-product shapes backpropagation needs, register-blocked.
//
// Legend: n = samples (rows), k = inputs of a layer, m = outputs of a layer,
//         W = simd<T>::width lanes per vector, NR = NV * W columns per register tile,
//         MR = rows per register tile.  All matrices are row-major.
//
//   gemm_rows:   C[i, c] = epi(init[c] + sum_p A[i, p] * B[p, c])  (i < rows, c < m padded)
//                A read with scalar broadcasts (any leading dimension, user memory allowed),
//                B packed panels (k x NR, zero-padded, owned by us), C rows padded to whole
//                vectors (owned by us); epi is the fused epilogue (the activation f, or * f'(a)).
//                Forward pass: A = a_prev, B = W[:, 1:]^T, init = W[:, 0].
//                Delta pass:   A = delta,  B = W[:, 1:],   init = 0.
//   gemm_tn_acc: G[p, c] += sum_i A[i, p] * D[i, c]               (reduction over samples)
//                A read with broadcasts, D rows padded to NR (owned by us), G a (k x NR) tile.
//                Weight gradient: A = a_prev, D = delta, G = (delta^T a_prev)^T.
//
// Every output element is computed by the same sequence of operations whatever tile, row block
// or thread it falls in, so results do not depend on how work is split.
#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>
#include <new>
#include <type_traits>

#include "parallel.hpp"
#include "simd.hpp"

namespace backprop {

// One MR x (NV*W) tile of C = epi(init + A B).  B is packed: row p holds NV*W values.  C rows
// are padded, so the whole tile is stored.  epi(x, row, col) maps the accumulator vector of
// (tile row r, columns col..col+W) before the store: the fused f, or the * f'(a) of the delta.
template <class T, int MR, int NV, class Epi>
inline void gemm_tile(idx k, const T* __restrict A, idx lda, const T* __restrict B,
                      const T* __restrict init, T* C, idx ldc, idx row0, idx col0,
                      bool accumulate, const Epi& epi) {
    using V = typename simd<T>::vec;
    constexpr int W = simd<T>::width;
    V acc[MR][NV];
    if (accumulate) {  // a later slice of k: continue from the partial sums in C
#pragma GCC unroll 16
        for (int r = 0; r < MR; ++r)
#pragma GCC unroll 16
            for (int v = 0; v < NV; ++v) acc[r][v] = vload<V>(C + r * ldc + v * W);
    } else {
#pragma GCC unroll 16
        for (int v = 0; v < NV; ++v) {
            const V b0 = init ? vload<V>(init + v * W) : V{};
#pragma GCC unroll 16
            for (int r = 0; r < MR; ++r) acc[r][v] = b0;
        }
    }
    for (idx p = 0; p < k; ++p) {
        V b[NV];
#pragma GCC unroll 16
        for (int v = 0; v < NV; ++v) b[v] = vload<V>(B + p * NV * W + v * W);
#pragma GCC unroll 16
        for (int r = 0; r < MR; ++r) {
            const V a = vbroadcast<V>(A[r * lda + p]);
#pragma GCC unroll 16
            for (int v = 0; v < NV; ++v) acc[r][v] = vmuladd(a, b[v], acc[r][v]);
        }
    }
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 16
        for (int v = 0; v < NV; ++v) vstore(C + r * ldc + v * W, epi(acc[r][v], row0 + r, col0 + v * W));
}

// f(std::integral_constant<int, r>{}) for a run-time count 0 < r <= R (nothing otherwise): the
// remainder tiles, whose row or input count must be a compile-time constant.
template <int R, class F>
inline __attribute__((always_inline)) void with_tile_count(idx r, const F& f) {
    if constexpr (R > 0) {
        if (r == R) f(std::integral_constant<int, R>{});
        else with_tile_count<R - 1>(r, f);
    }
}

// Rows [0, rows) of C = epi(init + A B) for one packed panel of NR = NV * W columns.
template <class T, int NV, class Epi>
void gemm_panel(idx rows, idx k, const T* A, idx lda, const T* B, const T* init, T* C, idx ldc,
                idx col0, bool accumulate, const Epi& epi) {
    constexpr int MR = NV == 1 ? kTileRows1 : kTileRows2;
    idx i = 0;
    for (; i + MR <= rows; i += MR)
        gemm_tile<T, MR, NV>(k, A + i * lda, lda, B, init, C + i * ldc, ldc, i, col0, accumulate, epi);
    const idx left = rows - i;
    A += i * lda;
    C += i * ldc;
    with_tile_count<MR - 1>(left, [&](auto R) {  // remainder rows: same per-element arithmetic, smaller tile
        gemm_tile<T, decltype(R)::value, NV>(k, A, lda, B, init, C, ldc, i, col0, accumulate, epi);
    });
}

// A packed operand: panels of NR = 2W columns (the last may be W wide), each k x NR, zero padded.
template <class T>
struct PackedPanels {
    static constexpr int W = simd<T>::width;
    idx k = 0, m = 0;
    T* data = nullptr;   // k * round_up(m, W) values; panel q starts at k * q * 2W
    T* init = nullptr;   // round_up(m, W) values or nullptr
    static idx size(idx k_, idx m_) { return k_ * round_up(m_, W); }
    idx panel_width(idx c0) const { return std::min<idx>(2 * W, round_up(m - c0, W)); }
};

constexpr idx kSliceK = 256;  // k per cache slice: a 2W-wide slice of B (16 KB with AVX2) stays in L1

// C (rows x round_up(m, W), padded rows of ld ldc) = epi(init + A B), all panels.  k is cut
// into slices of kSliceK so that the B slice stays in L1 and the A rows in L2; partial sums
// go through C, and the epilogue runs on the last slice only.
// slice_k = 0 disables slicing (needed when the epilogue reads C's previous contents).
template <class T, class Epi>
void gemm_rows(idx rows, const T* A, idx lda, const PackedPanels<T>& B, T* C, idx ldc, const Epi& epi,
               idx slice_k = kSliceK) {
    using V = typename simd<T>::vec;
    constexpr int W = simd<T>::width;
    const idx k = B.k;
    if (slice_k <= 0) slice_k = std::max<idx>(k, 1);
    const auto identity = [](V x, idx, idx) __attribute__((always_inline)) { return x; };
    for (idx k0 = 0; k0 < std::max<idx>(k, 1); k0 += slice_k) {
        const idx kk = std::min(slice_k, k - k0);
        const bool first = k0 == 0, last = k0 + slice_k >= k;
        for (idx c0 = 0; c0 < B.m; c0 += 2 * W) {
            const idx pw = B.panel_width(c0);
            const T* Bp = B.data + k * c0 + k0 * pw;
            const T* init = B.init ? B.init + c0 : nullptr;
            const T* Ak = A + k0;
            if (pw == 2 * W) {
                if (last) gemm_panel<T, 2>(rows, kk, Ak, lda, Bp, init, C + c0, ldc, c0, !first, epi);
                else gemm_panel<T, 2>(rows, kk, Ak, lda, Bp, init, C + c0, ldc, c0, !first, identity);
            } else {
                if (last) gemm_panel<T, 1>(rows, kk, Ak, lda, Bp, init, C + c0, ldc, c0, !first, epi);
                else gemm_panel<T, 1>(rows, kk, Ak, lda, Bp, init, C + c0, ldc, c0, !first, identity);
            }
        }
    }
}

// Pack B[p, c] = src[c * ld_c + p * ld_p] for p < k, c < m into panels (zero padded).
template <class T>
void pack_panels(idx k, idx m, const T* src, idx ld_p, idx ld_c, T* dst) {
    constexpr int W = simd<T>::width;
    for (idx c0 = 0; c0 < m; c0 += 2 * W) {
        const idx pw = std::min<idx>(2 * W, round_up(m - c0, W));
        const idx live = std::min<idx>(pw, m - c0);  // columns past m are padding (zeros)
        T* panel = dst + k * c0;
        for (idx p = 0; p < k; ++p) {
            for (idx c = 0; c < live; ++c) panel[p * pw + c] = src[(c0 + c) * ld_c + p * ld_p];
            for (idx c = live; c < pw; ++c) panel[p * pw + c] = T(0);
        }
    }
}

// g[c] += sum_i D[i, c] for c in [c0, c1): the bias column's gradient (a column of ones in A).
template <class T>
void column_sums_acc(idx rows, const T* __restrict D, idx ldd, T* __restrict g, idx c0, idx c1) {
    using V = typename simd<T>::vec;
    constexpr int W = simd<T>::width;
    for (idx c = c0; c < c1; c += W) {
        V acc = vload<V>(g + c);
        for (idx i = 0; i < rows; ++i) acc += vload<V>(D + i * ldd + c);
        vstore(g + c, acc);
    }
}

// One MR x (NV*W) tile of G += A^T D over `rows` samples.  D rows are padded (ldd >= NV*W).
// BIAS: also Gb[c] += sum_i D[i, c] (the bias row: a column of ones in A), from the D vectors
// already loaded, in the same row order as column_sums_acc.
template <class T, int MR, int NV, bool BIAS = false>
inline void gemm_tn_tile(idx rows, const T* __restrict A, idx lda, const T* __restrict D, idx ldd,
                         T* __restrict G, idx ldg, T* __restrict Gb = nullptr) {
    using V = typename simd<T>::vec;
    constexpr int W = simd<T>::width;
    V acc[MR][NV], accb[NV];
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 16
        for (int v = 0; v < NV; ++v) acc[r][v] = vload<V>(G + r * ldg + v * W);
    if constexpr (BIAS)
        for (int v = 0; v < NV; ++v) accb[v] = vload<V>(Gb + v * W);
    for (idx i = 0; i < rows; ++i) {
        // D's rows are a stride apart (one cache line of them per step): fetch 8 steps ahead,
        // which the hardware prefetcher does not do well enough
        __builtin_prefetch(D + std::min(i + 8, rows - 1) * ldd);
        V d[NV];
#pragma GCC unroll 16
        for (int v = 0; v < NV; ++v) d[v] = vload<V>(D + i * ldd + v * W);
        if constexpr (BIAS)
#pragma GCC unroll 16
            for (int v = 0; v < NV; ++v) accb[v] += d[v];
#pragma GCC unroll 16
        for (int r = 0; r < MR; ++r) {
            const V a = vbroadcast<V>(A[i * lda + r]);
#pragma GCC unroll 16
            for (int v = 0; v < NV; ++v) acc[r][v] = vmuladd(a, d[v], acc[r][v]);
        }
    }
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 16
        for (int v = 0; v < NV; ++v) vstore(G + r * ldg + v * W, acc[r][v]);
    if constexpr (BIAS)
        for (int v = 0; v < NV; ++v) vstore(Gb + v * W, accb[v]);
}

// G[p, c] += sum_i A[i, p] D[i, c] for p in [p0, p1), c in [c0, c1) (c0, c1 multiples of W).
// Input tiles outside, output panels inside: the tile's columns of A stay in L1 while D's
// panels stream from L2.  D is either row-major (ldd > 0: D[i, c] at D[i * ldd + c]) or packed
// (ldd == 0: panel c0 + 2W q holds rows x pw values at D + rows * 2W q, rows pw apart).
// BIAS: the bias row Gb (columns indexed like G's) is summed along.
template <class T, int MR, bool BIAS = false>
inline void gemm_tn_row_tile(idx rows, const T* A, idx lda, const T* D, idx ldd, T* G, idx ldg, idx c0, idx c1,
                             T* Gb = nullptr) {
    constexpr int W = simd<T>::width;
    idx c = c0;
    for (; c + 2 * W <= c1; c += 2 * W) {
        if (ldd) gemm_tn_tile<T, MR, 2, BIAS>(rows, A, lda, D + c, ldd, G + c, ldg, Gb + c);
        else gemm_tn_tile<T, MR, 2, BIAS>(rows, A, lda, D + rows * (c - c0), 2 * W, G + c, ldg, Gb + c);
    }
    if (c < c1) {
        if (ldd) gemm_tn_tile<T, MR, 1, BIAS>(rows, A, lda, D + c, ldd, G + c, ldg, Gb + c);
        else gemm_tn_tile<T, MR, 1, BIAS>(rows, A, lda, D + rows * (c - c0), W, G + c, ldg, Gb + c);
    }
}

// Rows of a gradient tile over a single vector of outputs (c1 - c0 = W): twelve independent
// accumulator chains (the two-vector tiles have 2 kTileRows2), so that the multiply-adds are
// not held up by their latency when a layer has W or fewer outputs (the article's 8 in float).
constexpr int kTnRows1 = 12;
// The fewest inputs for which the bias row is summed inside the first tile.
constexpr idx kTnBiasInputs = kTnRows1 > kTileRows2 ? kTnRows1 : kTileRows2;

// The single-vector case of gemm_tn_acc_panels: tiles of kTnRows1 inputs, then one of the rest.
template <class T>
void gemm_tn_acc_vector(idx rows, const T* A, idx lda, const T* D, idx ldd, T* G, idx ldg, idx p0, idx p1, idx c0,
                        T* Gb) {
    constexpr int W = simd<T>::width;
    constexpr int MR = kTnRows1;
    const T* Dc = ldd ? D + c0 : D;
    const idx ld = ldd ? ldd : W;
    idx p = p0;
    if (Gb) {  // p1 - p0 >= MR (gemm_tn_acc sees to it)
        gemm_tn_tile<T, MR, 1, true>(rows, A + p, lda, Dc, ld, G + p * ldg + c0, ldg, Gb + c0);
        p += MR;
    }
    for (; p + MR <= p1; p += MR) gemm_tn_tile<T, MR, 1>(rows, A + p, lda, Dc, ld, G + p * ldg + c0, ldg);
    const T* Ap = A + p;
    T* Gp = G + p * ldg + c0;
    with_tile_count<MR - 1>(p1 - p, [&](auto R) {  // remainder inputs: same per-element arithmetic, smaller tile
        gemm_tn_tile<T, decltype(R)::value, 1>(rows, Ap, lda, Dc, ld, Gp, ldg);
    });
}

// G as in gemm_tn_row_tile over inputs [p0, p1); Gb (or nullptr): the bias row, summed along
// by the first tile, which must be a whole one (p1 - p0 >= kTnBiasInputs).
template <class T>
void gemm_tn_acc_panels(idx rows, const T* A, idx lda, const T* D, idx ldd, T* G, idx ldg, idx p0, idx p1, idx c0,
                        idx c1, T* Gb = nullptr) {
    constexpr int MR = kTileRows2;
    if (c1 - c0 == simd<T>::width) {
        gemm_tn_acc_vector(rows, A, lda, D, ldd, G, ldg, p0, p1, c0, Gb);
        return;
    }
    idx p = p0;
    if (Gb) {  // p1 - p0 >= MR (gemm_tn_acc sees to it)
        gemm_tn_row_tile<T, MR, true>(rows, A + p, lda, D, ldd, G + p * ldg, ldg, c0, c1, Gb);
        p += MR;
    }
    for (; p + MR <= p1; p += MR) gemm_tn_row_tile<T, MR>(rows, A + p, lda, D, ldd, G + p * ldg, ldg, c0, c1);
    const T* Ap = A + p;
    T* Gp = G + p * ldg;
    with_tile_count<MR - 1>(p1 - p, [&](auto R) {  // remainder inputs: same per-element arithmetic, smaller tile
        gemm_tn_row_tile<T, decltype(R)::value>(rows, Ap, lda, D, ldd, Gp, ldg, c0, c1);
    });
}

// A thread's own 64-byte aligned buffer of at least `count` values, kept for its next calls (one
// per Tag; bounded as thread_scratch is), or nullptr if it cannot be had: the gradient product
// runs on the fit's threads, where nothing may throw.
template <class T, int Tag>
T* tn_buffer(idx count) {
    static thread_local std::unique_ptr<T[], void (*)(T*)> buf{nullptr, [](T*) {}};
    static thread_local idx size = 0;
    const auto bytes = [](idx values) { return static_cast<std::size_t>(values) * sizeof(T); };
    if (size < count || scratch_too_big(bytes(size), bytes(count))) {
        buf.reset();
        size = 0;
        void* p = ::operator new[](bytes(count), std::align_val_t(64), std::nothrow);
        if (!p) return nullptr;
        buf = std::unique_ptr<T[], void (*)(T*)>(static_cast<T*>(p),
                                                 [](T* q) { ::operator delete[](q, std::align_val_t(64)); });
        size = count;
    }
    return buf.get();
}

// Copies inputs [p0, p1) of A (rows x lda) into micro-panels for gemm_tn_packed_panel: the panel of
// inputs [p0 + j, p0 + j + MR) holds rows x MR values at dst + j rows (row i at i MR); the
// remainder's panel, rows x rem values, follows.
template <class T>
void pack_tn_a(idx rows, const T* __restrict A, idx lda, idx p0, idx p1, T* __restrict dst) {
    constexpr int MR = kTileRows2;
    constexpr idx line = 64 / static_cast<idx>(sizeof(T));  // values per cache line
    constexpr idx ahead = 4;                                // rows
    const idx full = (p1 - p0) / MR * MR, rem = p1 - p0 - full;
    for (idx i = 0; i < rows; ++i) {
        // A's rows are a stride apart and often in the other core's cache (the threads gathered
        // and computed them by rows): fetch the piece of a row 4 rows ahead
        if (i + ahead < rows) {
            const T* next = A + (i + ahead) * lda + p0;
            for (idx p = 0; p < p1 - p0; p += line) __builtin_prefetch(next + p);
            __builtin_prefetch(next + (p1 - p0) - 1);
        }
        const T* a = A + i * lda + p0;
        for (idx p = 0; p < full; p += MR)
            for (int r = 0; r < MR; ++r) dst[p * rows + i * MR + r] = a[p + r];
        for (idx r = 0; r < rem; ++r) dst[full * rows + i * rem + r] = a[full + r];
    }
}

// G[p, c] += sum_i A[i, p] D[i, c] over the np inputs of a packed A (pack_tn_a) and one panel
// of NV vectors of D (row stride ldd).  Gb (or nullptr; then np >= MR): the bias row, summed
// by the first tile.
template <class T, int NV>
void gemm_tn_packed_panel(idx rows, const T* Ap, idx np, const T* D, idx ldd, T* G, idx ldg, T* Gb) {
    constexpr int MR = kTileRows2;
    idx p = 0;
    if (Gb) {
        gemm_tn_tile<T, MR, NV, true>(rows, Ap, MR, D, ldd, G, ldg, Gb);
        p += MR;
    }
    for (; p + MR <= np; p += MR) gemm_tn_tile<T, MR, NV>(rows, Ap + p * rows, MR, D, ldd, G + p * ldg, ldg);
    const T* a = Ap + p * rows;
    T* g = G + p * ldg;
    with_tile_count<MR - 1>(np - p, [&](auto R) {  // remainder inputs: same per-element arithmetic, smaller tile
        gemm_tn_tile<T, decltype(R)::value, NV>(rows, a, decltype(R)::value, D, ldd, g, ldg);
    });
}

// Bytes of D per packed chunk in gemm_tn_acc (half of a 512 KB L2), and the fewest inputs (rows
// of G, each reading the whole chunk) for which the copy pays.
constexpr idx kTnPackBytes = 256 * 1024;
constexpr idx kTnPackMinInputs = 192;

// G[p, c] += sum_i A[i, p] D[i, c] for p in [p0, p1), c in [c0, c1) (c0, c1 multiples of W).
// Three ways, by size; every element's arithmetic is the same in all of them:
//   - D larger than L1 (32 KB) and read by many inputs (>= kTnPackMinInputs): D's columns are
//     copied, kTnPackBytes at a time, into contiguous panels (rows x 2W each), which the input
//     tiles then stream sequentially instead of one cache line per row a stride apart;
//   - otherwise, with a few input tiles and output panels (the cooperative tiles of wide
//     layers): A's inputs are copied into micro-panels (pack_tn_a), and each panel of D stays
//     in L1 while the input tiles stream their micro-panels past it (the loop order of a
//     packed GEMM; reading A in place, each tile would take one cache line per row);
//   - else, and whenever a copy's buffer cannot be had, A and D are read in place.
// Gb (or nullptr): G's bias row, Gb[c] += sum_i D[i, c], summed along by the first tile when
// there are enough inputs for a whole one, else first, by column_sums_acc (the same sums).
template <class T>
void gemm_tn_acc(idx rows, const T* A, idx lda, const T* D, idx ldd, T* G, idx ldg, idx p0, idx p1, idx c0, idx c1,
                 T* Gb = nullptr) {
    using V = typename simd<T>::vec;
    constexpr int W = simd<T>::width;
    if (Gb && p1 - p0 < kTnBiasInputs) {
        column_sums_acc(rows, D, ldd, Gb, c0, c1);
        Gb = nullptr;
    }
    if (rows <= 0) return;
    const idx d_bytes = rows * (c1 - c0) * static_cast<idx>(sizeof(T));
    if (p1 - p0 >= kTnPackMinInputs && d_bytes > 32 * 1024) {
        const idx chunk = std::max<idx>(2 * W, kTnPackBytes / static_cast<idx>(sizeof(T)) / rows / (2 * W) * (2 * W));
        if (T* buf = tn_buffer<T, 0>(rows * chunk)) {
            for (idx cc = c0; cc < c1; cc += chunk) {
                const idx ce = std::min(c1, cc + chunk);
                for (idx c = cc; c < ce; c += 2 * W) {
                    const idx pw = std::min<idx>(2 * W, ce - c);
                    T* dst = buf + rows * (c - cc);
                    for (idx i = 0; i < rows; ++i)
                        for (idx v = 0; v < pw; v += W) vstore(dst + i * pw + v, vload<V>(D + i * ldd + c + v));
                }
                gemm_tn_acc_panels(rows, A, lda, buf, /*ldd=*/0, G, ldg, p0, p1, cc, ce, Gb);
            }
            return;
        }
    } else if (p1 - p0 >= 2 * kTileRows2 && c1 - c0 >= 4 * W && rows >= 64) {
        if (T* buf = tn_buffer<T, 1>(rows * (p1 - p0))) {
            pack_tn_a(rows, A, lda, p0, p1, buf);
            T* Gp = G + p0 * ldg;
            idx c = c0;
            for (; c + 2 * W <= c1; c += 2 * W)
                gemm_tn_packed_panel<T, 2>(rows, buf, p1 - p0, D + c, ldd, Gp + c, ldg, Gb ? Gb + c : nullptr);
            if (c < c1) gemm_tn_packed_panel<T, 1>(rows, buf, p1 - p0, D + c, ldd, Gp + c, ldg, Gb ? Gb + c : nullptr);
            return;
        }
    }
    gemm_tn_acc_panels(rows, A, lda, D, ldd, G, ldg, p0, p1, c0, c1, Gb);
}

}  // namespace backprop
