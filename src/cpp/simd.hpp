// simd.hpp -- native-width vector types (GCC/Clang vector extensions) and unaligned load/store.
//
// The micro-kernels are written once with these types.  The width follows the ISA the module is
// compiled for: 64 bytes with AVX-512 (32 registers), 32 with AVX/AVX2 (16 registers), 16
// otherwise (the portable build).  The register-tile heights follow the register count.
#pragma once

#include <cstddef>
#include <cstring>
#include <type_traits>

#if defined(__FMA__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

#if defined(__AVX512F__)
#define BACKPROP_VEC_BYTES 64
#define BACKPROP_VEC_REGS 32
#elif defined(__AVX__)
#define BACKPROP_VEC_BYTES 32
#define BACKPROP_VEC_REGS 16
#else
#define BACKPROP_VEC_BYTES 16
#define BACKPROP_VEC_REGS 16
#endif

namespace backprop {

// Sizes and indices (signed, so that loops counting down and differences need no casts).
using idx = std::ptrdiff_t;

constexpr int kVecBytes = BACKPROP_VEC_BYTES;
// Rows of a register tile two vectors wide (acc = 2 MR vectors) and one vector wide.
constexpr int kTileRows2 = BACKPROP_VEC_REGS == 32 ? 8 : 6;
constexpr int kTileRows1 = BACKPROP_VEC_REGS == 32 ? 12 : 8;

template <class T>
struct simd;

template <>
struct simd<double> {
    typedef double vec __attribute__((vector_size(BACKPROP_VEC_BYTES)));
    static constexpr int width = BACKPROP_VEC_BYTES / 8;  // lanes per vector
};

template <>
struct simd<float> {
    typedef float vec __attribute__((vector_size(BACKPROP_VEC_BYTES)));
    static constexpr int width = BACKPROP_VEC_BYTES / 4;
};

// Unaligned, aliasing-safe vector load and store (memcpy compiles to one vmovu*).
template <class V, class T>
inline __attribute__((always_inline)) V vload(const T* p) {
    V v;
    std::memcpy(&v, p, sizeof(V));
    return v;
}

template <class V, class T>
inline __attribute__((always_inline)) void vstore(T* p, const V& v) {
    std::memcpy(p, &v, sizeof(V));
}

// All lanes = x.  `x - V{}` is exact for every x (x - (+0) == x, -0 included), so it folds to
// a single broadcast; `V{} + x` would not (0 + -0 is +0) and a lane-by-lane loop compiles to
// two instructions on AVX2.
template <class V, class T>
inline __attribute__((always_inline)) V vbroadcast(T x) {
    return x - V{};
}

// a * b + c lane by lane: one rounding where the ISA has a fused multiply-add (FMA3, AVX-512),
// two where it has none (the portable build).  Every multiply-add that a result depends on is
// written with vmuladd: the module is compiled with -ffp-contract=off, so the compiler never
// fuses, or declines to fuse, an `a * b + c` by its own heuristics (GCC's Zen tuning keeps some
// loop-carried chains unfused and fuses others).  Two paths that must agree bit for bit (the
// one-row lane and the blocked product, a fit in parts and in one piece) then agree because
// their source does the same operations in the same order, on any -march / -mtune.
template <class V>
inline __attribute__((always_inline)) V vmuladd(V a, V b, V c) {
    using T = std::remove_cv_t<std::remove_reference_t<decltype(a[0])>>;
    static_assert(std::is_same_v<T, double> || std::is_same_v<T, float>);
    constexpr bool f64 = std::is_same_v<T, double>;
#if defined(__AVX512F__)
    if constexpr (sizeof(V) == 64) {
        if constexpr (f64) return (V)_mm512_fmadd_pd((__m512d)a, (__m512d)b, (__m512d)c);
        else return (V)_mm512_fmadd_ps((__m512)a, (__m512)b, (__m512)c);
    }
#endif
#if defined(__FMA__)
    if constexpr (sizeof(V) == 32) {
        if constexpr (f64) return (V)_mm256_fmadd_pd((__m256d)a, (__m256d)b, (__m256d)c);
        else return (V)_mm256_fmadd_ps((__m256)a, (__m256)b, (__m256)c);
    }
    if constexpr (sizeof(V) == 16) {
        if constexpr (f64) return (V)_mm_fmadd_pd((__m128d)a, (__m128d)b, (__m128d)c);
        else return (V)_mm_fmadd_ps((__m128)a, (__m128)b, (__m128)c);
    }
#endif
    return a * b + c;
}

inline std::ptrdiff_t round_up(std::ptrdiff_t x, std::ptrdiff_t m) { return (x + m - 1) / m * m; }

}  // namespace backprop
