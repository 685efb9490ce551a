// sigmoid.hpp -- the logistic function and the logarithm used by the log-loss, written as
// branch-free scalar code so that the compiler vectorises every loop that calls them.
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

#include <cstdint>
#include <cstring>

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

// Taylor coefficients 1/k!, highest degree first (Horner).
template <class V>
inline __attribute__((always_inline)) V exp_poly(V r, double) {
    V p = V{} + 1.0 / 6227020800.0;  // 1/13!
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    return p;
}

template <class V>
inline __attribute__((always_inline)) V exp_poly(V r, float) {
    V p = V{} + 1.0f / 5040.0f;  // 1/7!
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    return p;
}

// exp(x) lane by lane for x <= 0 (the only arguments sigmoid needs); 0 below the underflow limit.
template <class T>
inline __attribute__((always_inline)) typename math_vec<T>::V exp_nonpositive(typename math_vec<T>::V x) {
    using F = fp_traits<T>;
    using V = typename math_vec<T>::V;
    using I = typename math_vec<T>::I;
    const V lower = V{} + F::exp_underflow;
    const I under = x < lower;
    const V xc = under ? lower : x;
    const V t = xc * F::log2e + F::shifter;
    const V n = t - F::shifter;                                        // round(x / ln 2)
    const I ni = bit_cast_to<V, I>(t) - bit_cast_to<V, I>(V{} + F::shifter);
    const V r = (xc - n * F::ln2_hi) - n * F::ln2_lo;                  // |r| <= ln2 / 2
    const V p = exp_poly(r, T(0));
    // 2^n: results below the smallest normal are scaled in two exact steps (2^(n+s) * 2^-s) so
    // that subnormal results come out right; only logical shifts are needed.
    const typename F::sint shift = sizeof(T) == 8 ? 600 : 60;
    const I tiny = n < (V{} + T(-(F::exponent_bias - 2)));
    const I off = tiny ? (I{} + shift) : I{};
    const V s1 = bit_cast_to<I, V>((ni + F::exponent_bias + off) << F::mantissa_bits);
    const V s2 = tiny ? (V{} + (sizeof(T) == 8 ? 0x1p-600 : 0x1p-60)) : (V{} + T(1));
    const V e = p * s1 * s2;
    return under ? V{} : e;
}

template <class T>
inline __attribute__((always_inline)) typename math_vec<T>::V sigmoid_vec(typename math_vec<T>::V z) {
    using V = typename math_vec<T>::V;
    const V zero = V{};
    const V az = z < zero ? -z : z;
    const V e = exp_nonpositive<T>(-az);
    const V one = zero + T(1);
    const V num = z >= zero ? one : e;
    return num / (one + e);
}

// Natural log lane by lane for positive normal x (the log-loss clips to [eps, 1 - eps]).
template <class T>
inline __attribute__((always_inline)) typename math_vec<T>::V log_positive(typename math_vec<T>::V x) {
    using F = fp_traits<T>;
    using V = typename math_vec<T>::V;
    using I = typename math_vec<T>::I;
    const I bits = bit_cast_to<V, I>(x);
    const I mant_mask = I{} + ((typename F::sint(1) << F::mantissa_bits) - 1);
    const I one_bits = bit_cast_to<V, I>(V{} + T(1));
    // biased exponent as a float, exactly: 2^mantissa_bits + e  ->  subtract 2^mantissa_bits
    using U = typename math_vec<T>::U;
    const I ebits = bit_cast_to<U, I>(bit_cast_to<I, U>(bits) >> F::mantissa_bits);  // x > 0: no sign bit
    const V two_pm = V{} + (sizeof(T) == 8 ? 0x1p52 : 0x1p23);
    V ef = bit_cast_to<I, V>(ebits | bit_cast_to<V, I>(two_pm)) - two_pm - T(F::exponent_bias);
    V m = bit_cast_to<I, V>((bits & mant_mask) | one_bits);  // m in [1, 2)
    const I big = m > (V{} + F::sqrt2);
    m = big ? m * T(0.5) : m;
    ef = big ? ef + T(1) : ef;
    const V f = m - T(1);
    const V s = f / (T(2) + f);
    const V s2 = s * s;
    V p;
    if constexpr (sizeof(T) == 8) {
        p = V{} + 1.0 / 21.0;
        p = p * s2 + 1.0 / 19.0;
        p = p * s2 + 1.0 / 17.0;
        p = p * s2 + 1.0 / 15.0;
        p = p * s2 + 1.0 / 13.0;
        p = p * s2 + 1.0 / 11.0;
        p = p * s2 + 1.0 / 9.0;
        p = p * s2 + 1.0 / 7.0;
        p = p * s2 + 1.0 / 5.0;
        p = p * s2 + 1.0 / 3.0;
        p = p * s2 + 1.0;
    } else {
        p = V{} + 1.0f / 9.0f;
        p = p * s2 + 1.0f / 7.0f;
        p = p * s2 + 1.0f / 5.0f;
        p = p * s2 + 1.0f / 3.0f;
        p = p * s2 + 1.0f;
    }
    const V log_m = T(2) * s * p;
    return ef * F::ln2_hi + (log_m + ef * F::ln2_lo);
}

// Applies f to a[0..n) vector by vector; the tail goes through a padded copy, so every element
// takes exactly the same arithmetic path.
template <class T, class F>
inline __attribute__((always_inline)) void map_vec(T* __restrict a, std::ptrdiff_t n, F f) {
    using V = typename math_vec<T>::V;
    constexpr int W = math_vec<T>::width;
    std::ptrdiff_t i = 0;
    for (; i + W <= n; i += W) vstore(a + i, f(vload<V>(a + i)));
    if (i < n) {
        alignas(64) T tmp[W] = {};
        for (std::ptrdiff_t j = 0; j < n - i; ++j) tmp[j] = a[i + j];
        vstore(tmp, f(vload<V>(tmp)));
        for (std::ptrdiff_t j = 0; j < n - i; ++j) a[i + j] = tmp[j];
    }
}

// a[i] = sigmoid(a[i]) for i < n, in place.
template <class T>
void sigmoid_inplace(T* __restrict a, std::ptrdiff_t n) {
    map_vec(a, n, [](typename math_vec<T>::V v) { return sigmoid_vec<T>(v); });
}

// a[i] = log(a[i]) for i < n, in place (a[i] positive and normal).
template <class T>
void log_inplace(T* __restrict a, std::ptrdiff_t n) {
    map_vec(a, n, [](typename math_vec<T>::V v) { return log_positive<T>(v); });
}

}  // namespace backprop
