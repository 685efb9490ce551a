// simd.hpp -- native-width vector types (GCC/Clang vector extensions) and unaligned load/store.
//
// The micro-kernels are written once with these types.  The width follows the ISA the module is
// compiled for: 64 bytes with AVX-512 (32 registers), 32 with AVX/AVX2 (16 registers), 16
// otherwise (the portable build).  The register-tile heights follow the register count.
#pragma once

#include <cstddef>
#include <cstring>

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

inline std::ptrdiff_t round_up(std::ptrdiff_t x, std::ptrdiff_t m) { return (x + m - 1) / m * m; }

}  // namespace backprop
