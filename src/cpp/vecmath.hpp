// vecmath.hpp -- exp, log, tanh and the logistic function over vectors, branch-free, so that
// every loop that calls them vectorises; also the float traits the other headers use.
//
//   sigmoid(z) = 1 / (1 + exp(-z)), computed in the stable form
//       e = exp(-|z|)                 (never overflows: the argument is <= 0)
//       sigmoid(z) = (z >= 0 ? 1 : e) / (1 + e)
//   which is exactly what backprop.reference.sigmoid computes, so both agree to the last few ulps
//   for every finite z (|z| up to 1e308 included) and neither produces NaN or overflows.
//
// exp: Cody-Waite range reduction x = n ln2 + r, |r| <= ln2/2, Taylor polynomial of degree 13
// (double) or 7 (float) in Horner form (truncation error < 1 ulp), then scaling by 2^n in two
// steps so that results down to the smallest subnormal are produced without overflow in the
// exponent field.  log: x = 2^e m with m in [sqrt(1/2), sqrt(2)), log m = 2 atanh(s),
// s = (m - 1) / (m + 1), odd series in s (error < 1 ulp).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <type_traits>

#include "simd.hpp"

namespace backprop {

template <class T>
struct fp_traits;

template <>
struct fp_traits<double> {
    using uint = std::uint64_t;
    using sint = std::int64_t;
    static constexpr int mantissa_bits = 52;
    static constexpr sint exponent_bias = 1023;
    static constexpr double shifter = 0x1.8p52;           // rounds x*log2(e) to an integer
    static constexpr double log2e = 1.4426950408889634074;
    static constexpr double ln2_hi = 6.93147180369123816490e-01;
    static constexpr double ln2_lo = 1.90821492927058770002e-10;
    static constexpr double exp_underflow = -745.2;       // exp(x) rounds to 0 below this
    static constexpr double sqrt2 = 1.41421356237309504880;
};

template <>
struct fp_traits<float> {
    using uint = std::uint32_t;
    using sint = std::int32_t;
    static constexpr int mantissa_bits = 23;
    static constexpr sint exponent_bias = 127;
    static constexpr float shifter = 0x1.8p23f;
    static constexpr float log2e = 1.44269504088896341f;
    static constexpr float ln2_hi = 0.693359375f;
    static constexpr float ln2_lo = -2.12194440e-4f;
    static constexpr float exp_underflow = -103.98f;
    static constexpr float sqrt2 = 1.41421356237309504880f;
};

template <class T, class U>
inline __attribute__((always_inline)) U bit_cast_to(const T& x) {
    static_assert(sizeof(T) == sizeof(U), "size mismatch");
    U u;
    std::memcpy(&u, &x, sizeof(U));
    return u;
}

// Vector types of the native width: V holds T lanes, I the same-sized signed integers.
template <class T>
struct math_vec {
    using V = typename simd<T>::vec;
    typedef typename fp_traits<T>::sint I __attribute__((vector_size(sizeof(V))));
    typedef typename fp_traits<T>::uint U __attribute__((vector_size(sizeof(V))));
    static constexpr int width = simd<T>::width;
};

// A group of N vectors handled in lock step.  The functions below are long dependency chains
// (a 13-term polynomial, a division); written over a group, every statement issues N
// independent instructions, which is what keeps the FMA units busy.
template <class V, int N>
struct group {
    V x[N];
};

#define BACKPROP_GROUP_BINOP(op)                                                      \
    template <class V, int N>                                                         \
    inline __attribute__((always_inline)) group<V, N> operator op(const group<V, N>& a, \
                                                                  const group<V, N>& b) { \
        group<V, N> r;                                                                \
        _Pragma("GCC unroll 8") for (int j = 0; j < N; ++j) r.x[j] = a.x[j] op b.x[j]; \
        return r;                                                                     \
    }
BACKPROP_GROUP_BINOP(+)
BACKPROP_GROUP_BINOP(-)
BACKPROP_GROUP_BINOP(*)
BACKPROP_GROUP_BINOP(/)
BACKPROP_GROUP_BINOP(<<)
BACKPROP_GROUP_BINOP(>>)
BACKPROP_GROUP_BINOP(&)
BACKPROP_GROUP_BINOP(|)
#undef BACKPROP_GROUP_BINOP

// a * b + c lane by lane, by vmuladd (one rounding with FMA).
template <class V, int N>
inline __attribute__((always_inline)) group<V, N> muladd(const group<V, N>& a, const group<V, N>& b,
                                                         const group<V, N>& c) {
    group<V, N> r;
#pragma GCC unroll 8
    for (int j = 0; j < N; ++j) r.x[j] = vmuladd(a.x[j], b.x[j], c.x[j]);
    return r;
}

template <class G, class S>
inline __attribute__((always_inline)) G splat(S s) {
    G r;
    using V = std::remove_reference_t<decltype(r.x[0])>;
    for (auto& v : r.x) v = vbroadcast<V>(static_cast<decltype(v[0] + 0)>(s));
    return r;
}

// mask ? a : b, lane by lane (mask lanes are all ones or all zeros).
template <class M, class V, int N>
inline __attribute__((always_inline)) group<V, N> select(const group<M, N>& mask, const group<V, N>& a,
                                                         const group<V, N>& b) {
    group<V, N> r;
#pragma GCC unroll 8
    for (int j = 0; j < N; ++j) r.x[j] = mask.x[j] ? a.x[j] : b.x[j];
    return r;
}

template <class To, class From, int N>
inline __attribute__((always_inline)) group<To, N> reinterpret(const group<From, N>& a) {
    group<To, N> r;
#pragma GCC unroll 8
    for (int j = 0; j < N; ++j) r.x[j] = bit_cast_to<From, To>(a.x[j]);
    return r;
}

#define BACKPROP_GROUP_CMP(name, op)                                                        \
    template <class I, class V, int N>                                                      \
    inline __attribute__((always_inline)) group<I, N> name(const group<V, N>& a, const group<V, N>& b) { \
        group<I, N> r;                                                                      \
        _Pragma("GCC unroll 8") for (int j = 0; j < N; ++j) r.x[j] = a.x[j] op b.x[j];      \
        return r;                                                                           \
    }
BACKPROP_GROUP_CMP(less, <)
BACKPROP_GROUP_CMP(greater, >)
BACKPROP_GROUP_CMP(greater_equal, >=)
BACKPROP_GROUP_CMP(equal, ==)
#undef BACKPROP_GROUP_CMP

// Polynomial in r by Horner's rule over the first K coefficients of c, highest degree first.
template <std::size_t K, class G, class T>
inline __attribute__((always_inline)) G horner_first(const G& r, const T* c) {
    G p = splat<G>(c[0]);
#pragma GCC unroll 16
    for (std::size_t k = 1; k < K; ++k) p = muladd(p, r, splat<G>(c[k]));
    return p;
}

// Polynomial sum_k c[k] r^k by Horner's rule, highest degree first in c.
template <class G, class T, std::size_t K>
inline __attribute__((always_inline)) G horner(const G& r, const T (&c)[K]) {
    return horner_first<K>(r, c);
}

// Taylor coefficients of exp, 1/k!, highest degree first: degree 13 (double), 7 (float).
constexpr double kExpCoef64[] = {1.0 / 6227020800.0, 1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0,
                                 1.0 / 362880.0,     1.0 / 40320.0,     1.0 / 5040.0,      1.0 / 720.0,
                                 1.0 / 120.0,        1.0 / 24.0,        1.0 / 6.0,         0.5,
                                 1.0,                1.0};
constexpr float kExpCoef32[] = {1.0f / 5040.0f, 1.0f / 720.0f, 1.0f / 120.0f, 1.0f / 24.0f,
                                1.0f / 6.0f,    0.5f,          1.0f,          1.0f};
// atanh series of log: 1/(2k+1), highest first: s^0 .. s^20 (double), s^0 .. s^8 (float) in s^2.
constexpr double kLogCoef64[] = {1.0 / 21.0, 1.0 / 19.0, 1.0 / 17.0, 1.0 / 15.0, 1.0 / 13.0, 1.0 / 11.0,
                                 1.0 / 9.0,  1.0 / 7.0,  1.0 / 5.0,  1.0 / 3.0,  1.0};
constexpr float kLogCoef32[] = {1.0f / 9.0f, 1.0f / 7.0f, 1.0f / 5.0f, 1.0f / 3.0f, 1.0f};

// Cody-Waite range reduction x = n ln2 + r, |r| <= ln2 / 2: n as a float and as an integer.
template <class T, int N>
struct ln2_reduction {
    group<typename math_vec<T>::V, N> n, r;
    group<typename math_vec<T>::I, N> ni;
};

template <class T, int N>
inline __attribute__((always_inline)) ln2_reduction<T, N> reduce_ln2(const group<typename math_vec<T>::V, N>& x) {
    using F = fp_traits<T>;
    using I = typename math_vec<T>::I;
    using GV = group<typename math_vec<T>::V, N>;
    const GV shifter = splat<GV>(F::shifter);
    const GV t = muladd(x, splat<GV>(F::log2e), shifter);
    ln2_reduction<T, N> out;
    out.n = t - shifter;                                                                  // round(x / ln 2)
    out.ni = reinterpret<I>(t) - reinterpret<I>(shifter);
    // (x - n ln2_hi) - n ln2_lo, each step one fused multiply-add: |r| <= ln2 / 2
    out.r = muladd(out.n, splat<GV>(-F::ln2_lo), muladd(out.n, splat<GV>(-F::ln2_hi), x));
    return out;
}

// exp(x) lane by lane for x <= 0 (the only arguments sigmoid needs); 0 below the underflow limit.
template <class T, int N>
inline __attribute__((always_inline)) group<typename math_vec<T>::V, N> exp_nonpositive(
    const group<typename math_vec<T>::V, N>& x) {
    using F = fp_traits<T>;
    using V = typename math_vec<T>::V;
    using I = typename math_vec<T>::I;
    using GV = group<V, N>;
    using GI = group<I, N>;
    const GV lower = splat<GV>(F::exp_underflow);
    const GI under = less<I>(x, lower);
    const GV xc = select(under, lower, x);
    const auto [n, r, ni] = reduce_ln2<T>(xc);
    GV p;
    if constexpr (sizeof(T) == 8) p = horner(r, kExpCoef64);
    else p = horner(r, kExpCoef32);
    // 2^n: results below the smallest normal are scaled in two exact steps (2^(n+s) * 2^-s) so
    // that subnormal results come out right; only logical shifts are needed.
    const GI tiny = less<I>(n, splat<GV>(T(-(F::exponent_bias - 2))));
    const GI off = tiny & splat<GI>(sizeof(T) == 8 ? 600 : 60);
    const GV s1 = reinterpret<V>((ni + splat<GI>(F::exponent_bias) + off) << splat<GI>(F::mantissa_bits));
    const GV s2 = select(tiny, splat<GV>(sizeof(T) == 8 ? 0x1p-600 : 0x1p-60), splat<GV>(1));
    return select(under, splat<GV>(0), p * s1 * s2);
}

// sigmoid(z) from pos = (z >= 0) and e = exp(-|z|): (pos ? 1 : e) / (1 + e).
template <class I, class V, int N>
inline __attribute__((always_inline)) group<V, N> sigmoid_from_exp(const group<I, N>& pos, const group<V, N>& e) {
    const group<V, N> one = splat<group<V, N>>(1);
    return select(pos, one, e) / (one + e);
}

template <class T, int N>
inline __attribute__((always_inline)) group<typename math_vec<T>::V, N> sigmoid_group(
    const group<typename math_vec<T>::V, N>& z) {
    using V = typename math_vec<T>::V;
    using I = typename math_vec<T>::I;
    using GV = group<V, N>;
    const GV zero = splat<GV>(0);
    const group<I, N> pos = greater_equal<I>(z, zero);
    return sigmoid_from_exp(pos, exp_nonpositive<T>(select(pos, zero - z, z)));  // e = exp(-|z|)
}

template <class T>
inline __attribute__((always_inline)) typename math_vec<T>::V sigmoid_vec(typename math_vec<T>::V z) {
    return sigmoid_group<T, 1>(group<typename math_vec<T>::V, 1>{{z}}).x[0];
}

// tanh(z) lane by lane, odd and accurate to a few ulps relative for every z (tiny z included):
// with q = expm1(-2|z|) in (-1, 0],  tanh|z| = -q / (2 + q).  expm1(x) = 2^n (1 + q_r) - 1 with
// x = n ln2 + r and q_r = expm1(r) = r (1 + r/2 + ...), so no 1 - e cancellation for small |z|;
// |z| beyond 22 (double) / 10 (float) gives exactly +-1 anyway, so x is clamped there and 2^n
// stays a normal number.  numpy twin: np.tanh.
template <class T, int N>
inline __attribute__((always_inline)) group<typename math_vec<T>::V, N> tanh_group(
    const group<typename math_vec<T>::V, N>& z) {
    using F = fp_traits<T>;
    using V = typename math_vec<T>::V;
    using I = typename math_vec<T>::I;
    using GV = group<V, N>;
    using GI = group<I, N>;
    const GV zero = splat<GV>(0);
    const GI neg = less<I>(z, zero);
    const GV lower = splat<GV>(sizeof(T) == 8 ? T(-44) : T(-20));
    GV x = select(neg, z + z, zero - (z + z));  // -2|z|
    x = select(less<I>(x, lower), lower, x);
    const auto [n, r, ni] = reduce_ln2<T>(x);
    // expm1(r) / r = sum_k r^k / (k + 1)!: the exp coefficients without the constant term
    GV qr;
    if constexpr (sizeof(T) == 8) qr = r * horner_first<std::size(kExpCoef64) - 1>(r, kExpCoef64);
    else qr = r * horner_first<std::size(kExpCoef32) - 1>(r, kExpCoef32);
    const GV s = reinterpret<V>((ni + splat<GI>(F::exponent_bias)) << splat<GI>(F::mantissa_bits));  // 2^n
    const GV q = muladd(s, qr, s - splat<GV>(1));
    const GV th = (zero - q) / (splat<GV>(2) + q);  // tanh|z| >= 0
    const GI sign = reinterpret<I>(z) & splat<GI>(typename F::sint(1) << (8 * sizeof(T) - 1));
    return reinterpret<V>(reinterpret<I>(th) | sign);  // z's sign, -0 included
}

// Natural log lane by lane for positive normal x (the log-loss clips to [eps, 1 - eps]).
template <class T, int N>
inline __attribute__((always_inline)) group<typename math_vec<T>::V, N> log_positive(
    const group<typename math_vec<T>::V, N>& x) {
    using F = fp_traits<T>;
    using V = typename math_vec<T>::V;
    using I = typename math_vec<T>::I;
    using U = typename math_vec<T>::U;
    using GV = group<V, N>;
    using GI = group<I, N>;
    const GI bits = reinterpret<I>(x);
    // biased exponent as a float, exactly: (2^mantissa_bits + e) - 2^mantissa_bits.  x > 0, so a
    // logical shift of the bits gives e.
    const GI ebits = reinterpret<I>(reinterpret<U>(bits) >> splat<group<U, N>>(F::mantissa_bits));
    const GV two_pm = splat<GV>(sizeof(T) == 8 ? 0x1p52 : 0x1p23);
    GV ef = reinterpret<V>(ebits | reinterpret<I>(two_pm)) - two_pm - splat<GV>(F::exponent_bias);
    const GI mant_mask = splat<GI>((typename F::sint(1) << F::mantissa_bits) - 1);
    GV m = reinterpret<V>((bits & mant_mask) | reinterpret<I>(splat<GV>(1)));  // m in [1, 2)
    const GI big = greater<I>(m, splat<GV>(F::sqrt2));
    m = select(big, m * splat<GV>(0.5), m);
    ef = select(big, ef + splat<GV>(1), ef);
    const GV f = m - splat<GV>(1);
    const GV s = f / (splat<GV>(2) + f);
    const GV s2 = s * s;
    GV p;
    if constexpr (sizeof(T) == 8) p = horner(s2, kLogCoef64);
    else p = horner(s2, kLogCoef32);
    const GV log_m = splat<GV>(2) * s * p;
    return muladd(ef, splat<GV>(F::ln2_hi), muladd(ef, splat<GV>(F::ln2_lo), log_m));
}

// Applies f (a function of a group of vectors) to a[0..n), four vectors at a time; the tail
// goes through a padded copy, so every element takes exactly the same arithmetic path.
template <class T, class F>
inline __attribute__((always_inline)) void map_vec(T* __restrict a, std::ptrdiff_t n, F f) {
    using V = typename math_vec<T>::V;
    constexpr int W = math_vec<T>::width;
    std::ptrdiff_t i = 0;
    for (; i + 4 * W <= n; i += 4 * W) {
        group<V, 4> g;
        for (int j = 0; j < 4; ++j) g.x[j] = vload<V>(a + i + j * W);
        g = f(g);
        for (int j = 0; j < 4; ++j) vstore(a + i + j * W, g.x[j]);
    }
    for (; i < n; i += W) {
        alignas(64) T tmp[W] = {};
        const std::ptrdiff_t len = std::min<std::ptrdiff_t>(W, n - i);
        for (std::ptrdiff_t j = 0; j < len; ++j) tmp[j] = a[i + j];
        group<V, 1> g{{vload<V>(tmp)}};
        g = f(g);
        vstore(tmp, g.x[0]);
        for (std::ptrdiff_t j = 0; j < len; ++j) a[i + j] = tmp[j];
    }
}

// a[i] = sigmoid(a[i]) for i < n, in place.
template <class T>
void sigmoid_inplace(T* __restrict a, std::ptrdiff_t n) {
    map_vec(a, n, [](const auto& g) __attribute__((always_inline)) { return sigmoid_group<T>(g); });
}

// a[i] = tanh(a[i]) for i < n, in place.
template <class T>
void tanh_inplace(T* __restrict a, std::ptrdiff_t n) {
    map_vec(a, n, [](const auto& g) __attribute__((always_inline)) { return tanh_group<T>(g); });
}

// a[i] = exp(a[i]) for i < n, in place (a[i] <= 0: softmax's shifted logits).
template <class T>
void exp_nonpositive_inplace(T* __restrict a, std::ptrdiff_t n) {
    map_vec(a, n, [](const auto& g) __attribute__((always_inline)) { return exp_nonpositive<T>(g); });
}

// a[i] = log(a[i]) for i < n, in place (a[i] positive and normal).
template <class T>
void log_inplace(T* __restrict a, std::ptrdiff_t n) {
    map_vec(a, n, [](const auto& g) __attribute__((always_inline)) { return log_positive<T>(g); });
}

}  // namespace backprop
