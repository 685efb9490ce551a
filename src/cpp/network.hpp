// network.hpp -- whole-network training loop (full-batch gradient descent) and prediction.
//
// Legend: n = samples, d = features, L = number of weight matrices (hidden layers + 1),
//         layer l maps k_l inputs to m_l outputs with W_l of shape (m_l, k_l + 1).
//
// One iteration, as in backprop.reference.train:
//   forward   a_0 = X;  a_l = sigmoid(a_{l-1} W_l[:, 1:]^T + W_l[:, 0])            l = 1..L
//   loss      J = -(1/n) sum_i log(y_i ? a_L,i : 1 - a_L,i)                       (recorded)
//   backward  delta_L = a_L - y;  delta_{l-1} = (delta_l W_l[:, 1:]) * a_{l-1} (1 - a_{l-1})
//             dW_l = [sum_i delta_l,i ,  delta_l^T a_{l-1}] / n
//   update    W_l -= learning_rate * dW_l
//
// The gradient is accumulated block by block (see train below), so a fit keeps activations for
// one block of samples at a time, not for all n.  Results are bitwise identical for any number
// of threads: the partition of the samples (blocks, parts) depends on the problem only, each
// weight-gradient element is summed over its samples in a fixed order, and the parts' partial
// sums are added in part order.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include "activations.hpp"
#include "dense.hpp"
#include "losses.hpp"
#include "narrow_tail.hpp"
#include "overflow.hpp"
#include "parallel.hpp"

namespace backprop {

constexpr idx kBlock = 256;       // samples per block: the unit of the forward/backward sweep
constexpr idx kGradInputs = 128;  // most inputs per gradient tile in the cooperative mode
constexpr idx kGradVectors = 64;  // most output vectors per gradient tile in the cooperative mode

// The architecture of one network, read from its weight matrices.
struct Shape {
    idx n_features = 0;
    std::vector<idx> k, m;  // inputs and outputs of each layer
    idx layers() const { return static_cast<idx>(m.size()); }
};

struct TrainResult {
    idx n_iter = 0;
    bool interrupted = false;
};

// How the samples of one fit are cut up.  Everything here depends on the problem only (never on
// the number of threads), which is what makes results bitwise identical for any thread count.
struct Schedule {
    idx n_blocks = 0;  // blocks of kBlock rows (the last may be shorter)
    idx parts = 1;     // weight-gradient partial sums: parts > 1 -> one thread per part at a time
};

inline Schedule make_schedule(idx n, idx n_features, idx grad_values, std::size_t value_bytes) {
    Schedule s;
    s.n_blocks = (n + kBlock - 1) / kBlock;
    // Partial sums are a copy of the gradient each: allow them as long as they cost at most a
    // tenth of the training data (or fit in 256 KiB), and at least two blocks per part.
    const double budget = std::max(0.1 * static_cast<double>(n) * static_cast<double>(n_features) * value_bytes,
                                   256.0 * 1024.0);
    while (s.parts * 2 <= 16 && s.parts * 2 * 2 <= s.n_blocks &&
           static_cast<double>(s.parts * 2 * grad_values) * value_bytes <= budget)
        s.parts *= 2;
    return s;
}

// Row stride of a block of activations with m_pad columns.  The gradient product walks down the
// columns of a block (256 rows at one stride): with a stride of a multiple of 256 bytes (4 cache
// lines) those rows fall into 16 or fewer of the 64 L1 sets and evict each other; one more cache
// line per row spreads them over all sets.
template <class T>
idx activation_stride(idx m_pad) {
    constexpr idx line = 64 / static_cast<idx>(sizeof(T));
    return m_pad % (4 * line) == 0 ? m_pad + line : m_pad;
}

// Update rules applied after each batch's gradient g (numpy twin: backprop.reference.train):
//   gd        W -= lr g
//   momentum  V = mu V - lr g;  W += nesterov ? mu V - lr g : V          (scikit-learn's SGD)
//   adam      t += 1;  M = b1 M + (1 - b1) g;  S = b2 S + (1 - b2) g^2;
//             W -= lr sqrt(1 - b2^t) / (1 - b1^t) M / (sqrt(S) + eps)    (scikit-learn's Adam)
//   gradient  no update: g is written to grad_out (loss_and_gradient)
enum class Solver : int { gd = 0, momentum = 1, adam = 2, gradient = 3 };

template <class T>
struct TrainOptions {
    Act act = Act::sigmoid;          // hidden layers' activation
    double learning_rate = 1.0;
    idx max_iter = 0;                // epochs
    int n_threads = 1;
    double alpha = 0.0;              // L2 penalty: g += alpha [0, W[:, 1:]] / n_batch
    idx batch_size = 0;              // 0 (or >= n): full batch
    const std::int64_t* order = nullptr;  // row order of the batches (a permutation), or natural
    idx order_stride = 0;            // 0: one order for every epoch; n: one row of `order` per epoch
    Solver solver = Solver::gd;
    double momentum = 0.9;
    bool nesterov = true;
    double beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8;
    std::vector<T*> state;           // momentum: V_l;  adam: M_l then S_l  (shaped like W_l)
    double* counters = nullptr;      // [adam step t, best loss, epochs without improvement]
    double tol = std::numeric_limits<double>::quiet_NaN();  // NaN: no stopping on the loss
    idx n_iter_no_change = 10;
    std::vector<T*> grad_out;        // Solver::gradient: dJ/dW_l
    double* loss_value = nullptr;    // Solver::gradient: the loss, in double
    std::function<bool()> should_stop;
    // Called by thread 0 after each epoch with (epochs done in this call, loss), the weights
    // updated; false stops training after that epoch.  The other threads wait meanwhile.
    std::function<bool(idx, double)> on_epoch;
};

// Trains in place.  W[l] points to (m_l, k_l + 1) row-major weights; y holds the targets with
// row stride ldy: 0/1 labels (ldy = 1) for one sigmoid output unit, one-hot rows (ldy = m_L)
// for a softmax output of m_L >= 2 units.  loss_out receives one value per epoch.
// o.should_stop() is polled by thread 0 between blocks (see poll below).
//
// An epoch is a sequence of batches (one batch of all n rows by default: the article's full-batch
// gradient descent), each followed by an update.  A batch's gradient is accumulated block by
// block: a block of kBlock samples goes forward through every layer, then backward, adding its
// share to the gradient sums, and only then does the next block start.  Activations therefore
// exist for one block at a time, and each delta overwrites the activation it was computed from.
// Two ways to use the threads:
//   parts > 1  the batch's blocks are split into `parts` consecutive runs; each run is handled
//              start to end by one thread with its own partial sums (no synchronisation inside
//              a batch: the small-network case).
//              In these batches, a network whose last layers are all narrower than a vector
//              (from layer t0 on; one sigmoid output) takes them through the narrow tail
//              (narrow_tail.hpp), one block at a time, samples across the lanes;
//   parts == 1 all threads work on each block together: rows split for forward and deltas,
//              gradient tiles split for the sums, barriers between the steps (large layers,
//              whose partial sums would cost too much memory).
// Then the partial sums are added in part order, the weights updated and repacked.
template <class T>
TrainResult train(const T* X, const T* y, idx ldy, idx n, const Shape& s, const std::vector<T*>& W,
                  T* loss_out, const TrainOptions<T>& o) {
    constexpr int VW = simd<T>::width;
    const idx L = s.layers();
    const Loss loss = loss_for_outputs(s.m[L - 1]);
    const idx d = s.n_features, n_out = s.m[L - 1];
    int n_threads = o.n_threads;
    const T learning_rate = static_cast<T>(o.learning_rate);

    // Batches: consecutive runs of `order` (or of the rows) of batch_size rows, the last shorter.
    const idx bs = (o.batch_size > 0 && o.batch_size < n) ? o.batch_size : n;
    const idx n_batches = (n + bs - 1) / bs;
    const idx last_bn = n - (n_batches - 1) * bs;
    // One batch: its gradient does not depend on the order of its rows, so they are read in
    // place (no gather), as the reference does.
    const std::int64_t* const order = n_batches > 1 ? o.order : nullptr;

    std::vector<idx> m_pad(L), ld(L), grad_offset(L);
    idx grad_size = 0, act_size = 0;
    for (idx l = 0; l < L; ++l) {
        m_pad[l] = round_up(s.m[l], VW);
        ld[l] = activation_stride<T>(m_pad[l]);
        grad_offset[l] = grad_size;
        grad_size += (s.k[l] + 1) * m_pad[l];
        act_size += kBlock * ld[l];
    }
    // Features so large that a first-layer sum might overflow (only |x| beyond sqrt of the largest
    // value can get there with weights of sane size): the first layer then takes the checked path.
    const bool huge_inputs = has_huge_values(X, n * d);
    const Schedule sched_full = make_schedule(bs, d, grad_size, sizeof(T));
    const Schedule sched_last = make_schedule(last_bn, d, grad_size, sizeof(T));
    const idx max_parts = std::max(sched_full.parts, sched_last.parts);
    const bool any_parts = max_parts > 1;
    n_threads = static_cast<int>(
        std::max<idx>(1, std::min<idx>(n_threads, sched_full.parts > 1 ? sched_full.parts : sched_full.n_blocks * 8)));

    std::vector<PackedLayer<T>> packed;
    packed.reserve(static_cast<std::size_t>(L));
    for (idx l = 0; l < L; ++l) {
        packed.emplace_back(s.k[l], s.m[l], /*need_bwd=*/l > 0);
        packed.back().pack(W[l], s.k[l], s.m[l]);
    }
    Buffer<T> grads(max_parts * grad_size);
    // Block workspace: one per thread when parts are handed out, else one shared.
    const idx n_work = any_parts ? n_threads : 1;
    Buffer<T> work(n_work * act_size);
    auto act_of = [&](idx w, idx l) {
        T* p = work.get() + w * act_size;
        for (idx j = 0; j < l; ++j) p += kBlock * ld[j];
        return p;
    };
    // Rows gathered in `order` (only when an order is given): one block of X and y per workspace.
    Buffer<T> gx(order ? n_work * kBlock * d : 0), gy(order ? n_work * kBlock * ldy : 0);
    const idx loss_runs_per_block = kBlock / kLossRows;
    std::vector<double> loss_part(sched_full.n_blocks * loss_runs_per_block, 0.0);
    Buffer<T> loss_tmp(static_cast<idx>(n_threads) * std::max<idx>(kBlock, 64 * n_out));

    // The narrow tail (narrow_tail.hpp): the last layers, from t0 on, when they are all narrower
    // than a vector and the output is one sigmoid unit.  Taken by batches handed out in parts
    // (the small-network case; the cooperative mode keeps the row kernels), so whether a batch
    // takes it depends on the problem only.
    static_assert(kTailRows == kBlock, "the tail takes whole blocks");
    idx t0 = L;
    if (loss == Loss::binary_log && ldy == 1)
        while (t0 - 1 >= 1 && L - (t0 - 1) <= kTailMaxLayers && tail_pays<T>(s.k[t0 - 1], s.m[t0 - 1])) --t0;
    const bool has_tail = t0 < L && any_parts;
    std::vector<std::vector<TailLayer<T>>> tails(has_tail ? n_work : 0);
    for (auto& tl : tails)
        for (idx l = t0; l < L; ++l) tl.push_back({W[l], s.k[l], s.m[l], nullptr, m_pad[l]});
    const idx tail_ws = has_tail ? tail_workspace(tails[0]) : 0;
    Buffer<T> tail_work(n_work * tail_ws);

    // Gradient tiles of one layer, for the cooperative mode: (input range, output range).
    struct Tile { idx l, p0, p1, c0, c1; bool bias; };
    std::vector<std::vector<Tile>> tiles(L);
    for (idx l = 0; l < L; ++l) {
        const idx k = s.k[l];
        const idx pstep = std::max<idx>(kTileRows2, round_up((k + 4 * n_threads - 1) / (4 * n_threads), kTileRows2));
        const idx cstep = std::min<idx>(m_pad[l], kGradVectors * VW);
        for (idx p0 = 0; p0 < k; p0 += std::min<idx>(pstep, kGradInputs))
            for (idx c0 = 0; c0 < m_pad[l]; c0 += cstep)
                tiles[l].push_back({l, p0, std::min(k, p0 + std::min<idx>(pstep, kGradInputs)), c0,
                                    std::min(m_pad[l], c0 + cstep), p0 == 0});
    }
    // Weight columns (layer, column) for the update, split evenly among threads.
    struct Col { idx layer, col; };
    std::vector<Col> cols;
    for (idx l = 0; l < L; ++l)
        for (idx c = 0; c <= s.k[l]; ++c) cols.push_back({l, c});

    const idx n_cols = static_cast<idx>(cols.size());
    // Columns per claimed chunk: each row of W (and of the solver state) is walked in pieces of
    // this many values, so 16 (two cache lines in float64, often straddling three) wasted much of
    // every line fetched; 64 is 11-12 % faster on mini-batch Adam (medium, float64; float32 the
    // same) and leaves 19 chunks for the threads there.
    constexpr idx kColChunk = 64;
    std::atomic<idx> claim_part[2] = {0, 0}, claim_col[2] = {0, 0};  // per batch parity
    SpinBarrier barrier(n_threads);
    idx iterations_done = 0;
    double local_counters[3] = {0.0, std::numeric_limits<double>::infinity(), 0.0};
    double* const counters = o.counters ? o.counters : local_counters;
    double sq_weights = 0.0;  // sum of the squared non-bias weights (L2 loss term), by thread 0
    double epoch_acc = 0.0;   // sum over batches of batch loss * batch rows, by thread 0

    // Rows [r0, r0 + rows) of block `block` of the batch starting at row `b0` (of `order`):
    // forward through every layer into act(w, .), the loss partial sums, and the output delta
    // written over a_L.
    // Layers [0, upto) only: the rest (and the loss) are left to the narrow tail.
    auto forward_rows = [&](const std::int64_t* ord, idx w, idx b0, idx block, idx r0, idx rows, int t,
                            idx upto) {
        const idx g0 = block * kBlock + r0;  // row of the batch of the first row
        const T* a_prev;
        const T* yb;
        if (ord) {
            T* xg = gx.get() + w * kBlock * d + r0 * d;
            T* yg = gy.get() + w * kBlock * ldy + r0 * ldy;
            for (idx i = 0; i < rows; ++i) {
                const idx src = static_cast<idx>(ord[b0 + g0 + i]);
                for (idx j = 0; j < d; ++j) xg[i * d + j] = X[src * d + j];
                for (idx j = 0; j < ldy; ++j) yg[i * ldy + j] = y[src * ldy + j];
            }
            a_prev = xg;
            yb = yg;
        } else {
            a_prev = X + (b0 + g0) * d;
            yb = y + (b0 + g0) * ldy;
        }
        idx lda = d;
        for (idx l = 0; l < upto; ++l) {
            T* a = act_of(w, l) + r0 * ld[l];
            const Act act = l < L - 1 ? o.act : output_activation(loss);
            if (l == 0 && huge_inputs)
                dense_forward_overflow_safe(act, rows, a_prev, lda, packed[0].fwd, W[0], d, a, ld[0]);
            else
                dense_forward(act, rows, a_prev, lda, packed[l].fwd, a, ld[l]);
            a_prev = a;
            lda = ld[l];
        }
        if (upto < L) return;
        output_loss_and_delta(loss, rows, act_of(w, L - 1) + r0 * ld[L - 1], ld[L - 1], n_out, yb, ldy,
                              &loss_part[g0 / kLossRows], loss_tmp.get() + t * std::max<idx>(kBlock, 64 * n_out));
    };
    // delta_{l-1} = (delta_l W_l[:, 1:]) * f'(z_{l-1}), rows [r0, r0 + rows), in place.
    auto delta_rows = [&](idx w, idx l, idx r0, idx rows) {
        T* a_prev = act_of(w, l - 1) + r0 * ld[l - 1];
        dense_backward_delta(o.act, rows, act_of(w, l) + r0 * ld[l], ld[l], packed[l].bwd, a_prev, a_prev,
                             ld[l - 1]);
    };
    // G_l += [1, a_{l-1}]^T delta_l over the block's rows, for inputs [p0, p1), outputs [c0, c1).
    auto grad_block = [&](const std::int64_t* ord, idx w, idx part, idx l, idx b0, idx block, idx rows, idx p0,
                          idx p1, idx c0, idx c1, bool bias) {
        const T* A = l > 0 ? act_of(w, l - 1) : ord ? gx.get() + w * kBlock * d : X + (b0 + block * kBlock) * d;
        const idx lda = l == 0 ? d : ld[l - 1];
        T* G = grads.get() + part * grad_size + grad_offset[l];
        dense_backward_weights(rows, A, lda, act_of(w, l), ld[l], G, m_pad[l], p0, p1, c0, c1, bias);
    };

    // Thread 0 asks should_stop() (rate-limited by the caller) between blocks and batches,
    // so that a long batch can still be interrupted within a fraction of a second.  Its
    // verdict `abort_` may be read anywhere to skip work, but the decisions that change the
    // control flow (leaving a loop that contains barriers) are copied by thread 0 into a flag
    // per barrier just before it, and read by every thread just after it.  Thread 0 writes
    // such a flag again only before the same barrier one round later, which the others reach
    // only after their read: no thread can see a later verdict than the others.
    std::atomic<bool> abort_{false}, exit_block{false}, exit_b1{false}, exit_end{false};
    auto poll = [&](int t) {
        if (t == 0 && o.should_stop && !abort_.load(std::memory_order_relaxed) && o.should_stop())
            abort_.store(true, std::memory_order_relaxed);
        return abort_.load(std::memory_order_relaxed);
    };

    auto body = [&](int t) {
        idx step = 0;  // batches done by this call (the parity of the claim counters)
        for (idx it = 0; it < o.max_iter; ++it) {
            bool leave = false;
            const std::int64_t* const ord = order ? order + it * o.order_stride : nullptr;  // this epoch's rows
            for (idx bi = 0; bi < n_batches; ++bi, ++step) {
                const idx b0 = bi * bs, bn = bi == n_batches - 1 ? last_bn : bs;
                const Schedule& sc = bn == bs ? sched_full : sched_last;
                const idx parts = sc.parts, n_blocks = sc.n_blocks;
                if (t == 0) {  // the other parity's counters were last used before the previous barrier
                    claim_part[(step + 1) % 2].store(0, std::memory_order_relaxed);
                    claim_col[(step + 1) % 2].store(0, std::memory_order_relaxed);
                    if (o.alpha > 0) {  // the weights are only written after the next barrier
                        double sq = 0.0;
                        for (idx l = 0; l < L; ++l)
                            for (idx j = 0; j < s.m[l]; ++j)
                                for (idx q = 1; q <= s.k[l]; ++q) {
                                    const double v = W[l][j * (s.k[l] + 1) + q];
                                    sq += v * v;
                                }
                        sq_weights = sq;
                    }
                }
                // Adam's step size for this update (every thread computes the same value; t is
                // advanced by thread 0 after the last barrier of the batch).
                const double t_next = counters[0] + 1.0;
                const T lr_adam = static_cast<T>(o.learning_rate * std::sqrt(1.0 - std::pow(o.beta2, t_next)) /
                                                 (1.0 - std::pow(o.beta1, t_next)));
                if (parts > 1) {
                    // ---- each thread takes whole parts; part q covers blocks [q nb / P, (q+1) nb / P)
                    // Parts are claimed dynamically: if one thread is slowed (a busy machine), the
                    // others take its share.  The result does not depend on who takes which part.
                    for (idx q; (q = claim_part[step % 2].fetch_add(1, std::memory_order_relaxed)) < parts;) {
                        std::fill(grads.get() + q * grad_size, grads.get() + (q + 1) * grad_size, T(0));
                        for (idx b = n_blocks * q / parts; b < n_blocks * (q + 1) / parts; ++b) {
                            if (poll(t)) break;
                            const idx rows = std::min(bn, (b + 1) * kBlock) - b * kBlock;
                            const idx upto = has_tail ? t0 : L;
                            forward_rows(ord, t, b0, b, 0, rows, t, upto);
                            if (has_tail) {
                                for (idx l = t0; l < L; ++l)
                                    tails[t][l - t0].G = grads.get() + q * grad_size + grad_offset[l];
                                const T* yb = ord ? gy.get() + t * kBlock : y + b0 + b * kBlock;
                                tail_block(o.act, rows, act_of(t, t0 - 1), ld[t0 - 1], yb, tails[t],
                                           tail_work.get() + t * tail_ws, &loss_part[b * kBlock / kLossRows]);
                            }
                            for (idx l = upto - 1; l >= 0; --l) {
                                grad_block(ord, t, q, l, b0, b, rows, 0, s.k[l], 0, m_pad[l], true);
                                if (l > 0) delta_rows(t, l, 0, rows);
                            }
                        }
                    }
                } else {
                    // ---- all threads on each block together
                    for (idx l = 0; l < L; ++l)
                        for (idx i = t; i < static_cast<idx>(tiles[l].size()); i += n_threads) {
                            const Tile& g = tiles[l][i];
                            T* G = grads.get() + grad_offset[l];
                            for (idx p = g.bias ? 0 : 1 + g.p0; p < 1 + g.p1; ++p)
                                std::fill(G + p * m_pad[l] + g.c0, G + p * m_pad[l] + g.c1, T(0));
                        }
                    for (idx b = 0; b < n_blocks; ++b) {
                        const idx rows = std::min(bn, (b + 1) * kBlock) - b * kBlock;
                        // rows are split in runs of kLossRows (the loss partial sums' unit)
                        const idx runs = (rows + kLossRows - 1) / kLossRows;
                        const idx r0 = std::min(rows, runs * t / n_threads * kLossRows);
                        const idx r1 = std::min(rows, runs * (t + 1) / n_threads * kLossRows);
                        if (r1 > r0) forward_rows(ord, 0, b0, b, r0, r1 - r0, t, L);
                        if (t == 0) exit_block.store(poll(0), std::memory_order_relaxed);
                        barrier.wait();
                        if (exit_block.load(std::memory_order_relaxed)) break;
                        for (idx l = L - 1; l >= 0; --l) {
                            for (idx i = t; i < static_cast<idx>(tiles[l].size()); i += n_threads) {
                                const Tile& g = tiles[l][i];
                                grad_block(ord, 0, 0, l, b0, b, rows, g.p0, g.p1, g.c0, g.c1, g.bias);
                            }
                            barrier.wait();
                            if (l > 0) {
                                if (r1 > r0) delta_rows(0, l, r0, r1 - r0);
                                barrier.wait();
                            }
                        }
                    }
                }
                if (t == 0) exit_b1.store(poll(0), std::memory_order_relaxed);
                barrier.wait();
                if (exit_b1.load(std::memory_order_relaxed)) { leave = true; break; }  // interrupted: dropped
                // ---- add the parts in order, update, repack (weight columns claimed in chunks)
                const T tn = static_cast<T>(bn), alpha = static_cast<T>(o.alpha);
                const T mu = static_cast<T>(o.momentum), b1 = static_cast<T>(o.beta1), b2 = static_cast<T>(o.beta2);
                const T one_b1 = static_cast<T>(1.0 - o.beta1), one_b2 = static_cast<T>(1.0 - o.beta2);
                const T eps = static_cast<T>(o.epsilon);
                // The gradient of rows [j0, j0 + VW), columns [q0, q1) of layer l (at most
                // kColChunk): gt[i][jj] = (sum of the parts of G[q0 + i, j0 + jj]) / n, in part
                // order.  A column of W is a row of G: read as whole vectors along G's rows and
                // turned through this small table, instead of one value per cache line.
                using GV = typename simd<T>::vec;
                constexpr idx line = 64 / static_cast<idx>(sizeof(T));  // values per cache line
                auto grad_tile = [&](idx l, idx j0, idx q0, idx q1, T (*gt)[VW]) __attribute__((always_inline)) {
                    const T* const g0 = grads.get() + grad_offset[l] + j0;
                    // at the start of each cache line of G's rows, fetch the next line
                    if (j0 % line == 0 && j0 + line < m_pad[l])
                        for (idx q = q0; q < q1; ++q) __builtin_prefetch(g0 + q * m_pad[l] + line);
                    for (idx q = q0; q < q1; ++q) {
                        GV v = vload<GV>(g0 + q * m_pad[l]);
                        for (idx part = 1; part < parts; ++part) v += vload<GV>(g0 + part * grad_size + q * m_pad[l]);
                        vstore(gt[q - q0], v / vbroadcast<GV>(tn));
                    }
                };
                // Row j, columns [q0, q1) of layer l (at most kColChunk), whose gradient is
                // column jj of gt: penalise, update, repack.  The arithmetic runs along the row
                // (contiguous in W and the solver state, so it vectorises); each element's
                // operations are the same whatever the chunking.
                auto update_run = [&](idx l, idx j, idx q0, idx q1, const T (*gt)[VW], idx jj)
                                      __attribute__((always_inline)) {
                    const idx k = s.k[l], len = q1 - q0, row = j * (k + 1) + q0;
                    T* __restrict Wr = W[l] + row;
                    // The rows of W and of the solver state are a row apart here (the walk goes
                    // down a chunk of columns): fetch every line of the row's piece 4 rows ahead,
                    // which the hardware prefetcher does not
                    if (j + 4 < s.m[l]) {
                        const idx ahead = 4 * (k + 1);
                        auto fetch_piece = [len](const T* p) __attribute__((always_inline)) {
                            for (idx i = 0; i < len - 1; i += line) __builtin_prefetch(p + i, 1);
                            __builtin_prefetch(p + len - 1, 1);
                        };
                        fetch_piece(Wr + ahead);
                        for (T* st : {o.solver == Solver::momentum || o.solver == Solver::adam ? o.state[l] : nullptr,
                                      o.solver == Solver::adam ? o.state[L + l] : nullptr})
                            if (st) fetch_piece(st + row + ahead);
                    }
                    T g[kColChunk];
                    for (idx i = 0; i < len; ++i) g[i] = gt[i][jj];
                    if (o.alpha > 0)
                        for (idx i = q0 == 0 ? 1 : 0; i < len; ++i) g[i] += alpha * Wr[i] / tn;  // not the bias
                    switch (o.solver) {
                        case Solver::gd:
#pragma GCC ivdep
                            for (idx i = 0; i < len; ++i) Wr[i] -= learning_rate * g[i];
                            break;
                        case Solver::gradient:
                            for (idx i = 0; i < len; ++i) o.grad_out[l][row + i] = g[i];
                            return;
                        case Solver::momentum: {
                            T* __restrict V = o.state[l] + row;
#pragma GCC ivdep
                            for (idx i = 0; i < len; ++i) {
                                const T v = mu * V[i] - learning_rate * g[i];
                                V[i] = v;
                                Wr[i] += o.nesterov ? mu * v - learning_rate * g[i] : v;
                            }
                            break;
                        }
                        case Solver::adam: {
                            T* __restrict M = o.state[l] + row;
                            T* __restrict S = o.state[L + l] + row;
#pragma GCC ivdep
                            for (idx i = 0; i < len; ++i) {
                                const T mm = b1 * M[i] + one_b1 * g[i];
                                const T ss = b2 * S[i] + one_b2 * (g[i] * g[i]);
                                M[i] = mm;
                                S[i] = ss;
                                Wr[i] += -lr_adam * mm / (std::sqrt(ss) + eps);
                            }
                            break;
                        }
                    }
                    // the packed copies: forward (q - 1, j) lies in row j's panel, pw apart in q
                    const PackedPanels<T>& pf = packed[l].fwd;
                    const idx jc0 = j / (2 * VW) * (2 * VW);
                    T* const fwd_col = pf.data + pf.k * jc0 + (j - jc0);
                    const idx fwd_pw = pf.panel_width(jc0);
                    for (idx i = q0 == 0 ? 1 : 0; i < len; ++i) fwd_col[(q0 + i - 1) * fwd_pw] = Wr[i];
                    if (q0 == 0) pf.init[j] = Wr[0];
                    if (l > 0)
                        for (idx i = q0 == 0 ? 1 : 0; i < len; ++i)
                            packed[l].bwd.data[packed_index(packed[l].bwd, j, q0 + i - 1)] = Wr[i];
                };
                // Chunks of weight columns (at most kColChunk, possibly straddling two layers), row
                // by row: W, the solver state and the packed copies are walked along their rows.
                for (idx c0; (c0 = claim_col[step % 2].fetch_add(kColChunk, std::memory_order_relaxed)) < n_cols;) {
                    const idx c1 = std::min(n_cols, c0 + kColChunk);
                    for (idx r0 = c0, r1; r0 < c1; r0 = r1) {
                        const idx l = cols[r0].layer;
                        for (r1 = r0; r1 < c1 && cols[r1].layer == l;) ++r1;
                        const idx q0 = cols[r0].col, q1 = cols[r1 - 1].col + 1;
                        alignas(64) T gt[kColChunk][VW];
                        for (idx j0 = 0; j0 < s.m[l]; j0 += VW) {
                            grad_tile(l, j0, q0, q1, gt);
                            for (idx j = j0; j < std::min(s.m[l], j0 + VW); ++j) update_run(l, j, q0, q1, gt, j - j0);
                        }
                    }
                }
                if (t == 0) {
                    double total = 0.0;
                    for (idx r = 0; r < (bn + kLossRows - 1) / kLossRows; ++r) total += loss_part[r];
                    double batch_loss = total / static_cast<double>(bn);
                    if (o.alpha > 0) batch_loss += 0.5 * o.alpha * sq_weights / static_cast<double>(bn);
                    if (o.solver == Solver::adam) counters[0] = t_next;
                    bool stop = false;
                    if (bi == n_batches - 1) {
                        const double loss = n_batches == 1 ? batch_loss
                                                           : (epoch_acc + batch_loss * static_cast<double>(bn)) /
                                                                 static_cast<double>(n);
                        epoch_acc = 0.0;
                        loss_out[it] = static_cast<T>(loss);
                        if (o.loss_value) *o.loss_value = loss;
                        iterations_done = it + 1;
                        if (!std::isnan(o.tol)) {  // scikit-learn's rule, on the recorded (dtype) loss
                            const double recorded = static_cast<double>(loss_out[it]);
                            counters[2] = recorded > counters[1] - o.tol ? counters[2] + 1.0 : 0.0;
                            if (recorded < counters[1]) counters[1] = recorded;
                            stop = counters[2] > static_cast<double>(o.n_iter_no_change);
                        }
                        if (o.on_epoch && !o.on_epoch(it + 1, static_cast<double>(loss_out[it]))) stop = true;
                    } else {
                        epoch_acc += batch_loss * static_cast<double>(bn);
                    }
                    exit_end.store(poll(0) || stop, std::memory_order_relaxed);
                }
                barrier.wait();
                if (exit_end.load(std::memory_order_relaxed)) { leave = true; break; }
            }
            if (leave) break;
        }
    };
    run_team(n_threads, body);
    return TrainResult{iterations_done, abort_.load()};
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

// The network's output for n rows: p[i] = P(class 1 | X[i]) for one sigmoid output unit (as
// (n, 2) columns [1 - p, p] with two_columns), or the softmax row p[i, 0..m_L) for m_L >= 2
// output units (two_columns ignored); hidden layers use `act`.  Rows are processed in blocks
// of kBlock through two small ping-pong buffers, so memory stays small whatever n is.
template <class T>
void predict_proba(const T* X, idx n, const Shape& s, const std::vector<const T*>& W, T* p, int n_threads, Act act,
                   bool two_columns) {
    constexpr int VW = simd<T>::width;
    const idx L = s.layers();
    // The packed weights live in the calling thread's scratch; the block buffers in each
    // worker's own.
    std::vector<PackedPanels<T>> packed(static_cast<std::size_t>(L));
    idx total = 0, widest = VW, work = 0;
    for (idx l = 0; l < L; ++l) {
        total += PackedPanels<T>::size(s.k[l], s.m[l]) + round_up(s.m[l], VW);
        widest = std::max(widest, round_up(s.m[l], VW));
        work += s.k[l] * s.m[l];
    }
    const idx block_rows = std::min(n, kBlock);
    const idx n_out = s.m[L - 1];
    const Loss loss = loss_for_outputs(n_out);
    const bool softmax = loss == Loss::softmax_log;
    const idx buf_size = 2 * block_rows * widest + (softmax ? 64 * n_out : 0);  // + softmax scratch
    // One request for the calling thread (a second one could move the buffer): the packed
    // weights, then thread 0's block buffers.
    T* arena = thread_scratch<T>(static_cast<std::size_t>(total + buf_size));
    T* const main_buf = arena + total;
    for (idx l = 0; l < L; ++l) {
        packed[l].data = arena;
        arena += PackedPanels<T>::size(s.k[l], s.m[l]);
        packed[l].init = arena;
        arena += round_up(s.m[l], VW);
        pack_forward(W[l], s.m[l], s.k[l], packed[l]);
    }
    const idx n_blocks = (n + kBlock - 1) / kBlock;
    // Threads only pay off for large inputs (each costs tens of microseconds to start).
    const idx min_rows_per_thread = std::max<idx>(kBlock, 2000000 / std::max<idx>(work, 1));
    n_threads = static_cast<int>(std::max<idx>(1, std::min<idx>(n_threads, n / min_rows_per_thread)));
    auto body = [&](int t) {
        T* buf = t == 0 ? main_buf : thread_scratch<T>(static_cast<std::size_t>(buf_size));
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
            if (softmax) {
                T* out = bufs[(L - 1) % 2];
                softmax_rows(rows, out, lda, n_out, buf + 2 * block_rows * widest);
                for (idx i = 0; i < rows; ++i)
                    for (idx c = 0; c < n_out; ++c) p[(r0 + i) * n_out + c] = out[i * lda + c];
            } else {
                for (idx i = 0; i < rows; ++i) p[r0 + i] = a_prev[i * lda];  // the single output unit
            }
        }
    };
    if (n_threads == 1) body(0);
    else run_team(n_threads, body);
    if (two_columns && !softmax) fill_two_columns(n, p);
}

}  // namespace backprop
