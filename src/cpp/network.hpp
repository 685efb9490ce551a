// network.hpp -- the whole network: training (train), the loss and its gradient
// (loss_and_gradient) and prediction (predict_proba).
//
// Legend: n = samples, d = features, L = number of weight matrices (hidden layers + 1),
//         layer l maps k_l inputs to m_l outputs with W_l of shape (m_l, k_l + 1).
//
// One epoch, as in backprop.reference.train: for each batch of n_b rows (all n by default,
// the article's full-batch gradient descent)
//   forward   a_0 = X;  a_l = f(a_{l-1} W_l[:, 1:]^T + W_l[:, 0])   (the output: its Loss's activation)
//   loss      J = (1/n_b) sum_i loss_i + alpha / (2 n_b) sum |W[:, 1:]|^2          (losses.hpp)
//   backward  delta_L = a_L - y;  delta_{l-1} = (delta_l W_l[:, 1:]) f'(a_{l-1})
//             (with sample weights w: delta_L = w (a_L - y) and n_b = the batch's sum of w)
//             dW_l = [sum_i delta_l,i ,  delta_l^T a_{l-1}] / n_b + alpha [0, W_l[:, 1:]] / n_b
//   update    W_l -= the solver's step for dW_l                                 (solvers.hpp)
// then the epoch's loss (the batches' losses weighted by n_b / n), the tol rule and the hook.
// The gradient steps are BatchSweep's (sweep.hpp): a fit keeps activations for one block of
// samples per thread at a time, and results are bitwise identical for any number of threads.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <vector>

#include "activations.hpp"
#include "dense.hpp"
#include "losses.hpp"
#include "parallel.hpp"
#include "solvers.hpp"
#include "sweep.hpp"

namespace backprop {

struct TrainResult {
    idx n_iter = 0;
    bool interrupted = false;
};

template <class T>
struct TrainOptions {
    // The bindings set every field from the caller's arguments (the defaults of the options live
    // in the estimator's parameter table); the initialisers here only mean "not given".
    Act act{};                       // hidden layers' activation
    Loss loss{};                     // the output layer and its loss
    const T* sample_weight = nullptr;  // (n,) per-sample weights, or none
    bool average_outputs = false;    // the recorded loss divides the data term by m_L
    double learning_rate{};
    idx max_iter = 0;                // epochs
    int n_threads = 1;
    double alpha{};                  // L2 penalty: g += alpha [0, W[:, 1:]] / n_batch
    idx batch_size = 0;              // 0 (or >= n): full batch
    const std::int64_t* order = nullptr;  // row order of the batches (a permutation), or natural
    idx order_stride = 0;            // 0: one order for every epoch; n: one row of `order` per epoch
    std::optional<bool> huge_inputs;  // has_huge_values(X) when the caller knows it (else X is scanned)
    Solver solver{};
    double momentum{};
    bool nesterov{};
    double beta1{}, beta2{}, epsilon{};
    std::vector<T*> state;           // momentum: V_l;  adam: M_l then S_l  (shaped like W_l)
    double* counters = nullptr;      // [adam step t, best loss, epochs without improvement]
    double tol = std::numeric_limits<double>::quiet_NaN();  // NaN: no stopping on the loss
    idx n_iter_no_change{};
    std::function<bool()> should_stop;  // polled by thread 0 between blocks: true interrupts
    // Called by thread 0 after each epoch with (epochs done in this call, loss), the weights
    // updated; false stops training after that epoch.  The other threads wait meanwhile.
    std::function<bool(idx, double)> on_epoch;
};

// scikit-learn's stopping rule on the recorded loss of an epoch: counters[1] is the best loss so
// far, counters[2] the epochs without an improvement of at least tol.  True: stop.
inline bool no_improvement_stop(double recorded, double tol, idx n_iter_no_change, double* counters) {
    counters[2] = recorded > counters[1] - tol ? counters[2] + 1.0 : 0.0;
    if (recorded < counters[1]) counters[1] = recorded;
    return counters[2] > static_cast<double>(n_iter_no_change);
}

template <class T>
SolverStep<T> solver_step(const TrainOptions<T>& o) {
    SolverStep<T> st;
    st.solver = o.solver;
    st.lr = static_cast<T>(o.learning_rate);
    st.mu = static_cast<T>(o.momentum);
    st.nesterov = o.nesterov;
    st.b1 = static_cast<T>(o.beta1);
    st.b2 = static_cast<T>(o.beta2);
    st.one_b1 = static_cast<T>(1.0 - o.beta1);
    st.one_b2 = static_cast<T>(1.0 - o.beta2);
    st.eps = static_cast<T>(o.epsilon);
    return st;
}

// Trains in place for o.max_iter epochs.  W[l] points to (m_l, k_l + 1) row-major weights; y
// holds the targets with row stride ldy: one per row (ldy = 1) for one output unit, rows of m_L
// (ldy = m_L) else (0/1 labels or columns, one-hot rows for a softmax, real targets).  loss_out receives one value
// per epoch run.  Each batch: block forward and backward, reduce and update
// (sw.gradient_and_update with the solver), then thread 0 records the loss and applies the
// stopping rule.
template <class T>
TrainResult train(const T* X, const T* y, idx ldy, idx n, const Shape& s, const std::vector<T*>& W, T* loss_out,
                  const TrainOptions<T>& o) {
    const idx L = s.layers();
    BatchSweep<T> sw(X, y, ldy, n, s, std::vector<const T*>(W.begin(), W.end()), o.act, o.loss, o.sample_weight,
                     o.average_outputs, o.batch_size, o.order, o.n_threads, o.should_stop, o.huge_inputs);
    const int n_state = solver_state_arrays(o.solver);
    T* const* const state0 = n_state >= 1 ? o.state.data() : nullptr;
    T* const* const state1 = n_state >= 2 ? o.state.data() + L : nullptr;
    const typename BatchSweep<T>::RowArrays ahead = {W.data(), state0, state1};
    double local_counters[3] = {0.0, std::numeric_limits<double>::infinity(), 0.0};
    double* const counters = o.counters ? o.counters : local_counters;
    const SolverStep<T> base_step = solver_step(o);
    idx iterations_done = 0;
    double epoch_acc = 0.0;  // sum over batches of batch loss * batch rows, by thread 0
    sw.run([&](int t) {
        // epoch it, batch bi of it; step: batches done by this call (the parity of the claim
        // counters).  A thread parked by end_batch resumes at a later step.
        idx it = 0, bi = 0, step = 0;
        while (it < o.max_iter) {
            const std::int64_t* const ord = sw.epoch_order(it, o.order_stride);
            const Batch b = sw.batch(bi);
            sw.begin_batch(t, step, o.alpha > 0, ord, b);
            // Adam's step t is read here by every thread and advanced by thread 0 after the
            // sweep, whose first barrier comes between the two
            SolverStep<T> st = base_step;
            const double t_next = counters[0] + 1.0;
            if (o.solver == Solver::adam) st.lr_t = adam_step_size<T>(o.learning_rate, o.beta1, o.beta2, t_next);
            const bool done = sw.gradient_and_update(
                t, ord, b, step, o.alpha, ahead,
                [&](idx l, idx j, idx q0, idx len, const T* g) __attribute__((always_inline)) {
                    const idx row = j * (s.k[l] + 1) + q0;
                    T* const Wr = W[l] + row;
                    st.apply(len, Wr, state0 ? state0[l] + row : nullptr, state1 ? state1[l] + row : nullptr, g);
                });
            if (!done) return;
            const bool epoch_end = bi == sw.n_batches - 1;
            if (epoch_end && o.on_epoch) sw.sync(t);  // the hook reads the weights: all updated
            bool stop = false;
            if (t == 0) {
                const double batch_loss = sw.batch_loss(b.bn, o.alpha);
                if (o.solver == Solver::adam) counters[0] = t_next;
                if (epoch_end) {
                    const double loss = sw.n_batches == 1 ? batch_loss
                                                          : (epoch_acc + batch_loss * static_cast<double>(b.bn)) /
                                                                static_cast<double>(n);
                    epoch_acc = 0.0;
                    loss_out[it] = static_cast<T>(loss);
                    iterations_done = it + 1;
                    const double recorded = static_cast<double>(loss_out[it]);  // the tol rule sees the dtype's loss
                    if (!std::isnan(o.tol)) stop = no_improvement_stop(recorded, o.tol, o.n_iter_no_change, counters);
                    if (o.on_epoch && !o.on_epoch(it + 1, recorded)) stop = true;
                } else {
                    epoch_acc += batch_loss * static_cast<double>(b.bn);
                }
            }
            const idx next = sw.end_batch(t, stop, step);
            if (next < 0) return;
            for (; step < next; ++step)
                if (++bi == sw.n_batches) {
                    bi = 0;
                    ++it;
                }
        }
    });
    return TrainResult{iterations_done, sw.interrupted()};
}

// The mean loss (L2 term included, in double) and its gradient grad_out[l] (shaped like W[l])
// over all n rows at the given weights, which are only read.  Targets, loss, weights (w, or
// nullptr) and average_outputs as for train.  huge_inputs: has_huge_values(X), when the caller
// knows it (a driver calling once per iteration on the same X), else scanned here.
template <class T>
double loss_and_gradient(const T* X, const T* y, idx ldy, idx n, const Shape& s, const std::vector<const T*>& W,
                         Act act, Loss loss_kind, const T* w, bool average_outputs, double alpha, int n_threads,
                         const std::vector<T*>& grad_out, std::optional<bool> huge_inputs = std::nullopt) {
    BatchSweep<T> sw(X, y, ldy, n, s, W, act, loss_kind, w, average_outputs, /*batch_size=*/0, /*order=*/nullptr,
                     n_threads, /*should_stop=*/{}, huge_inputs);
    const typename BatchSweep<T>::RowArrays ahead = {W.data(), nullptr, nullptr};
    double loss = 0.0;
    sw.run([&](int t) {
        const Batch b = sw.batch(0);
        sw.begin_batch(t, 0, alpha > 0, nullptr, b);
        const bool done = sw.gradient_and_update(t, nullptr, b, 0, alpha, ahead,
                                                 [&](idx l, idx j, idx q0, idx len, const T* g) {
                                                     T* out = grad_out[l] + j * (s.k[l] + 1) + q0;
                                                     for (idx i = 0; i < len; ++i) out[i] = g[i];
                                                 });
        if (!done) return;
        if (t == 0) loss = sw.batch_loss(b.bn, alpha);
    });
    return loss;
}

// loss_and_gradient's loss alone, the same value bit for bit, by the forward pass (about a third
// of the work): what a validation set's loss after every epoch needs.
template <class T>
double loss_at(const T* X, const T* y, idx ldy, idx n, const Shape& s, const std::vector<const T*>& W, Act act,
               Loss loss_kind, const T* w, bool average_outputs, double alpha, int n_threads,
               std::optional<bool> huge_inputs = std::nullopt) {
    BatchSweep<T> sw(X, y, ldy, n, s, W, act, loss_kind, w, average_outputs, /*batch_size=*/0, /*order=*/nullptr,
                     n_threads, /*should_stop=*/{}, huge_inputs);
    double loss = 0.0;
    sw.run([&](int t) {
        const Batch b = sw.batch(0);
        sw.begin_batch(t, 0, alpha > 0, nullptr, b);
        if (sw.forward_loss(t, nullptr, b, 0) && t == 0) loss = sw.batch_loss(b.bn, alpha);
    });
    return loss;
}

// p (n, 2) = [1 - p, p] from p (n,) in the same memory, filled back to front so that each p is
// read before it is overwritten.
template <class T>
void fill_two_columns(idx n, T* p) {
    for (idx i = n - 1; i >= 0; --i) {
        const T q = p[i];
        p[2 * i + 1] = q;
        p[2 * i] = T(1) - q;
    }
}

// The threads predict_proba runs n rows on, of at most `requested`: each thread of a team
// must have kMinWorkPerThread multiply-adds (`work` per row) to pay for waking it.
inline int predict_threads(idx n, idx work, int requested) {
    const idx min_rows_per_thread = std::max<idx>(kBlock, kMinWorkPerThread / std::max<idx>(work, 1));
    return static_cast<int>(std::max<idx>(1, std::min<idx>(requested, n / min_rows_per_thread)));
}

// The output layer's values of `rows` rows (out, padded rows of ld) finished and stored as
// predict_proba returns them (p, rows of n_out): the softmax normalised (tmp: 64 n_out values),
// exp for the poisson output, copied otherwise.
template <class T>
void store_outputs(Loss loss, idx rows, T* out, idx ld, idx n_out, T* p, T* tmp) {
    if (loss == Loss::softmax_log) {
        softmax_rows(rows, out, ld, n_out, tmp);
        for (idx i = 0; i < rows; ++i)
            for (idx c = 0; c < n_out; ++c) p[i * n_out + c] = out[i * ld + c];
    } else if (loss == Loss::poisson) {
        for (idx i = 0; i < rows; ++i)
            for (idx c = 0; c < n_out; ++c) p[i * n_out + c] = std::exp(out[i * ld + c]);
    } else if (n_out == 1) {
        for (idx i = 0; i < rows; ++i) p[i] = out[i * ld];  // the single output unit
    } else {
        for (idx i = 0; i < rows; ++i)
            for (idx c = 0; c < n_out; ++c) p[i * n_out + c] = out[i * ld + c];
    }
}

// The network's output for n rows, the output activation of `loss` applied: p[i] for one output
// unit (P(class 1 | X[i]) for one sigmoid unit, as (n, 2) columns [1 - p, p] with two_columns),
// else the row p[i, 0..m_L) (softmax, sigmoids, z or exp(z); two_columns ignored); hidden
// layers use `act`.  Rows are processed in blocks
// of kBlock through two small ping-pong buffers, so memory stays small whatever n is.
template <class T>
void predict_proba(const T* X, idx n, const Shape& s, const std::vector<const T*>& W, T* p, int n_threads, Act act,
                   Loss loss, bool two_columns) {
    constexpr int VW = simd<T>::width;
    const idx L = s.layers();
    // The packed weights and every thread's block buffers live in the calling thread's scratch.
    std::vector<PackedPanels<T>> packed(static_cast<std::size_t>(L));
    idx total = 0, widest = VW, work = 0;
    for (idx l = 0; l < L; ++l) {
        total += PackedPanels<T>::size(s.k[l], s.m[l]) + round_up(s.m[l], VW);
        widest = std::max(widest, round_up(s.m[l], VW));
        work += s.k[l] * s.m[l];
    }
    const idx block_rows = std::min(n, kBlock);
    const idx n_out = s.m[L - 1];
    const bool softmax = loss == Loss::softmax_log;
    const idx buf_size = 2 * block_rows * widest + (softmax ? 64 * n_out : 0);  // + softmax scratch
    const idx n_blocks = (n + kBlock - 1) / kBlock;
    n_threads = predict_threads(n, work, n_threads);
    // One request, on the calling thread, before any other starts (so that an allocation
    // failure is an exception here, and a second request cannot move the first): the packed
    // weights, then each thread's block buffers.
    const idx buf_stride = round_up(buf_size, VW);
    T* arena = thread_scratch<T>(static_cast<std::size_t>(total + n_threads * buf_stride));
    T* const block_bufs = arena + total;
    for (idx l = 0; l < L; ++l) {
        packed[l].data = arena;
        arena += PackedPanels<T>::size(s.k[l], s.m[l]);
        packed[l].init = arena;
        arena += round_up(s.m[l], VW);
        pack_forward(W[l], s.m[l], s.k[l], packed[l]);
    }
    auto body = [&](int t) {
        T* buf = block_bufs + t * buf_stride;
        T* bufs[2] = {buf, buf + block_rows * widest};
        const idx blk0 = n_blocks * t / n_threads, blk1 = n_blocks * (t + 1) / n_threads;
        for (idx b = blk0; b < blk1; ++b) {
            const idx r0 = b * kBlock, rows = std::min(n, r0 + kBlock) - r0;
            const T* a_prev = X + r0 * s.n_features;
            idx lda = s.n_features;
            for (idx l = 0; l < L; ++l) {
                const idx ld = round_up(s.m[l], VW);
                dense_forward(l < L - 1 ? act : output_activation(loss), rows, a_prev, lda, packed[l], bufs[l % 2], ld);
                a_prev = bufs[l % 2];
                lda = ld;
            }
            store_outputs(loss, rows, bufs[(L - 1) % 2], lda, n_out, p + r0 * n_out, buf + 2 * block_rows * widest);
        }
    };
    if (n_threads == 1) body(0);
    else run_team(n_threads, body);
    if (two_columns && loss == Loss::binary_log && n_out == 1) fill_two_columns(n, p);
}

// predict_proba's values, bit for bit, for a few rows on the calling thread, from the weights
// as they are (dense_forward_row: packing them would cost more than the products of a row).
// L layers, W[l] of shape (m[l], k_l + 1) with k_0 = d and k_l = m[l - 1].  Scratch: two
// activation rows of row_width values, then the softmax's 64 m[L - 1] values.
template <class T>
idx row_width(idx L, const idx* m) {
    idx widest = simd<T>::width;
    for (idx l = 0; l < L; ++l) widest = std::max(widest, round_up(m[l], simd<T>::width));
    return widest;
}

template <class T>
idx predict_rows_scratch(idx L, const idx* m) {
    return 2 * row_width<T>(L, m) + 64 * m[L - 1];
}

template <class T>
void predict_rows(const T* X, idx n, idx d, idx L, const T* const* W, const idx* m, T* p, Act act, Loss loss,
                  bool two_columns, T* scratch) {
    const idx n_out = m[L - 1], widest = row_width<T>(L, m);
    T* const bufs[2] = {scratch, scratch + widest};
    for (idx i = 0; i < n; ++i) {
        const T* a_prev = X + i * d;
        idx k = d;
        for (idx l = 0; l < L; ++l) {
            dense_forward_row(l < L - 1 ? act : output_activation(loss), a_prev, k, W[l], m[l], bufs[l % 2]);
            a_prev = bufs[l % 2];
            k = m[l];
        }
        store_outputs(loss, 1, bufs[(L - 1) % 2], round_up(n_out, simd<T>::width), n_out, p + i * n_out,
                      scratch + 2 * widest);
    }
    if (two_columns && loss == Loss::binary_log && n_out == 1) fill_two_columns(n, p);
}

}  // namespace backprop
