// solvers.hpp -- the update rules applied after each batch's gradient g.
//
// Each update runs over a piece of one row of W (len values) and the same piece of the solver
// state, arrays shaped like W that live with the caller from call to call:
//   gd        W -= lr g
//   momentum  V = mu V - lr g;  W += nesterov ? mu V - lr g : V          (scikit-learn's SGD)
//   adam      t += 1;  M = b1 M + (1 - b1) g;  S = b2 S + (1 - b2) g^2;
//             W -= lr_t M / (sqrt(S) + eps),  lr_t = lr sqrt(1 - b2^t) / (1 - b1^t)
//                                                                          (scikit-learn's Adam)
// The state arrays of each layer: momentum V; adam M and S.  Every element takes the same
// operations whatever the piece it falls in.  numpy twins: backprop.reference.train's
// gd step, momentum_step and adam_step.  A new solver is a Solver value, an update function,
// its state count in solver_state_arrays and a case in SolverStep::apply.
#pragma once

#include <cmath>

#include "simd.hpp"

namespace backprop {

enum class Solver : int { gd = 0, momentum = 1, adam = 2 };

// State arrays per layer.
constexpr int solver_state_arrays(Solver s) { return s == Solver::adam ? 2 : s == Solver::momentum ? 1 : 0; }

template <class T>
inline __attribute__((always_inline)) void gd_update(idx len, T* __restrict W, const T* __restrict g, T lr) {
#pragma GCC ivdep
    for (idx i = 0; i < len; ++i) W[i] -= lr * g[i];
}

template <class T>
inline __attribute__((always_inline)) void momentum_update(idx len, T* __restrict W, T* __restrict V,
                                                           const T* __restrict g, T lr, T mu, bool nesterov) {
#pragma GCC ivdep
    for (idx i = 0; i < len; ++i) {
        const T v = mu * V[i] - lr * g[i];
        V[i] = v;
        W[i] += nesterov ? mu * v - lr * g[i] : v;
    }
}

// lr_t of step t (the step being taken, counted from 1), in double, then rounded to T.
template <class T>
T adam_step_size(double lr, double beta1, double beta2, double t) {
    return static_cast<T>(lr * std::sqrt(1.0 - std::pow(beta2, t)) / (1.0 - std::pow(beta1, t)));
}

template <class T>
inline __attribute__((always_inline)) void adam_update(idx len, T* __restrict W, T* __restrict M, T* __restrict S,
                                                       const T* __restrict g, T lr_t, T b1, T one_b1, T b2, T one_b2,
                                                       T eps) {
#pragma GCC ivdep
    for (idx i = 0; i < len; ++i) {
        const T mm = b1 * M[i] + one_b1 * g[i];
        const T ss = b2 * S[i] + one_b2 * (g[i] * g[i]);
        M[i] = mm;
        S[i] = ss;
        W[i] += -lr_t * mm / (std::sqrt(ss) + eps);
    }
}

// One batch's update: the solver and its parameters in the dtype (lr_t: Adam's step size for
// this batch).
template <class T>
struct SolverStep {
    Solver solver = Solver::gd;
    T lr = T(1), mu = T(0), b1 = T(0), b2 = T(0), one_b1 = T(1), one_b2 = T(1), eps = T(0), lr_t = T(0);
    bool nesterov = true;

    // W[0, len) -= the update for gradient g; s0, s1: the same piece of the layer's state arrays.
    inline __attribute__((always_inline)) void apply(idx len, T* W, T* s0, T* s1, const T* g) const {
        switch (solver) {
            case Solver::gd: gd_update(len, W, g, lr); break;
            case Solver::momentum: momentum_update(len, W, s0, g, lr, mu, nesterov); break;
            case Solver::adam: adam_update(len, W, s0, s1, g, lr_t, b1, one_b1, b2, one_b2, eps); break;
        }
    }
};

}  // namespace backprop
