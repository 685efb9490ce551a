// sweep.hpp -- one batch's gradient, block by block, on the threads of one fit; and the loop
// that hands each thread the weights to update from it.
//
// Legend: n = samples, d = features, L = number of weight matrices (hidden layers + 1),
//         layer l maps k_l inputs to m_l outputs with W_l of shape (m_l, k_l + 1);
//         n_b = rows of the batch.
//
// The steps, as in backprop.reference.network_forward / network_backward:
//   block forward   a_0 = X;  a_l = f(a_{l-1} W_l[:, 1:]^T + W_l[:, 0]); the loss sums; delta_L
//   block backward  G_l += [1, a_{l-1}]^T delta_l;  delta_{l-1} = (delta_l W_l[:, 1:]) f'(a_{l-1})
//   reduce          g_l = (sum of the parts' G_l) / n_b + alpha [0, W_l[:, 1:]] / n_b
// and the update (solvers.hpp) is applied to g by the caller, row piece by row piece.  With
// per-sample weights w, delta_L carries w_i (losses.hpp) and n_b is the batch's sum of w, summed
// in double in the batch's row order by thread 0 before the sweep (begin_batch).
//
// A batch's gradient is accumulated block by block: a block of kBlock samples goes forward
// through every layer, then backward, adding its share to the gradient sums, and only then does
// the next block start.  Activations therefore exist for one block at a time, and each delta
// overwrites the activation it was computed from.  Two ways to use the threads:
//   parts > 1  the batch's blocks are split into `parts` consecutive runs; each run is handled
//              start to end by one thread with its own partial sums (no synchronisation inside
//              a batch: the small-network case).  In these batches, a network whose last layers
//              are all narrower than a vector (from layer t0 on; one sigmoid output) takes them
//              through the narrow tail (narrow_tail.hpp), samples across the lanes;
//   parts == 1 all threads work on each block together: rows split for forward and deltas,
//              gradient tiles split for the sums, barriers between the steps (large layers,
//              whose partial sums would cost too much memory).
// Results are bitwise identical for any number of threads: the partition of the samples
// (blocks, parts) depends on the problem only, each gradient element is summed over its samples
// in a fixed order, and the parts' partial sums are added in part order.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
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
// Weight columns per claimed chunk of the update: each row of W (and of the solver state) is
// walked in pieces of this many values, so that a piece spans whole cache lines.
constexpr idx kColChunk = 64;
constexpr idx kMaxParts = 16;  // most partial sums of a batch's gradient (make_schedule)

// The architecture of one network, read from its weight matrices.
struct Shape {
    idx n_features = 0;
    std::vector<idx> k, m;  // inputs and outputs of each layer
    idx layers() const { return static_cast<idx>(m.size()); }
};

// How the samples of one batch are cut up.  Everything here depends on the problem only (never
// on the number of threads), which is what makes results bitwise identical for any thread count.
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
    while (s.parts * 2 <= kMaxParts && s.parts * 2 * 2 <= s.n_blocks &&
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

// One batch of a fit: rows [b0, b0 + bn) of the epoch's order, cut up by its schedule.
struct Batch {
    idx b0 = 0, bn = 0, parts = 1, n_blocks = 0;
};

// sum_l ||W_l[:, 1:]||^2 in double (the L2 loss term), in kSqLanes running sums: element q of a
// row goes to sum q mod kSqLanes, so that the adds do not wait on each other (thread 0 computes
// this before every batch while the others wait), and the sums are added pairwise at the end.
// The order depends on the shape only: the same on every ISA and thread count.
constexpr int kSqLanes = 8;

template <class T>
double squared_weights(const Shape& s, const std::vector<const T*>& W) {
    double acc[kSqLanes] = {};
    for (idx l = 0; l < s.layers(); ++l) {
        const idx k = s.k[l];
        for (idx j = 0; j < s.m[l]; ++j) {
            const T* w = W[l] + j * (k + 1) + 1;
            idx q = 0;
            for (; q + kSqLanes <= k; q += kSqLanes)
#pragma GCC unroll 8
                for (int r = 0; r < kSqLanes; ++r) {
                    const double v = w[q + r];
                    acc[r] += v * v;
                }
            for (int r = 0; q + r < k; ++r) {
                const double v = w[q + r];
                acc[r] += v * v;
            }
        }
    }
    for (int width = kSqLanes / 2; width > 0; width /= 2)
        for (int r = 0; r < width; ++r) acc[r] += acc[r + width];
    return acc[0];
}

// The gradient of one batch at a time for the threads of one call (train, loss_and_gradient).
// Built once per call: the batches and their schedules, the packed weights, the block
// workspaces, the narrow tail and the tiles of the cooperative mode.  W is read here (and
// repacked by repack after each update); y holds the targets with row stride ldy (one value per
// row, ldy = 1, for one output unit; rows of m_L, ldy = m_L, else), for the output's `loss`;
// w the per-sample weights (nullptr: none).  average_outputs: batch_loss divides the data term
// by m_L (the reported loss only; the gradient is that of the sum).
//
// Thread 0 asks should_stop() between blocks and batches, so that a long batch can still be
// interrupted within a fraction of a second.  Its verdict may be read anywhere to skip work,
// but the decisions that change the control flow (leaving a loop that contains barriers) are
// copied by thread 0 into a flag per barrier just before it, and read by every thread just
// after it.  Thread 0 writes such a flag again only before the same barrier one round later,
// which the others reach only after their read: no thread can see a later verdict than the
// others.
template <class T>
class BatchSweep {
public:
    static constexpr int VW = simd<T>::width;
    const Shape& s;
    const idx L, n, d, n_out;
    idx bs = 0, n_batches = 0, last_bn = 0;  // batch rows, batches per epoch, rows of the last one
    int n_threads = 1;

    BatchSweep(const T* X, const T* y, idx ldy, idx n_rows, const Shape& shape, const std::vector<const T*>& W,
               Act act, Loss loss, const T* w, bool average_outputs, idx batch_size, const std::int64_t* order,
               int n_threads_wanted, std::function<bool()> should_stop, std::optional<bool> huge_inputs = std::nullopt);

    // Runs body(t) on the team; once thread 0's body returns, threads still parked (end_batch)
    // are released.
    void run(const std::function<void(int)>& body) {
        run_team(n_threads, [&](int t) {
            const FlushSubnormals flush;
            body(t);
            if (t == 0) release_parked();
        });
    }

    // This epoch's row order (nullptr: natural order, or one batch, whose rows are read in place).
    const std::int64_t* epoch_order(idx epoch, idx order_stride) const {
        return order_ ? order_ + epoch * order_stride : nullptr;
    }
    Batch batch(idx bi) const {
        const idx bn = bi == n_batches - 1 ? last_bn : bs;
        const Schedule& sc = bn == bs ? sched_full_ : sched_last_;
        return {bi * bs, bn, sc.parts, sc.n_blocks};
    }

    // Thread 0, before the batch's sweep: resets the other parity's claim counters (last used
    // before the previous barrier), with an L2 term sums the squared non-bias weights (they are
    // only written after the next barrier), and with sample weights sums those of the batch
    // (rows of `ord`, or in place).
    void begin_batch(int t, idx step, bool l2, const std::int64_t* ord, const Batch& b);
    // The batch's gradient and its update: block forward and backward over the batch's blocks
    // into the gradient sums, then, for every row j of every layer l and each piece of its
    // columns [q0, q0 + len) exactly once, g = the batch's gradient of W_l[j, q0 .. q0 + len)
    // (L2 term included) and apply(l, j, q0, len, g), which updates that piece of W_l; the sweep
    // then writes the updated pieces into its packed copies (repack).  `ahead` (per layer, or
    // nullptr): the arrays shaped like W that apply walks along with it, fetched 4 rows ahead.
    // Who applies what, and when:
    //   parts > 1   after the sweep and a barrier, chunks of weight columns (possibly straddling
    //               two layers) are claimed by the threads and walked row by row;
    //   parts == 1  fused into the sweep's last block: each thread applies the gradient tiles it
    //               summed as soon as nothing reads W_l any more in this batch (layer 0 right
    //               after each tile, a layer l > 0 once every thread has computed its delta
    //               from W_l), instead of in a separate pass behind two more barriers.
    // apply sees the same g whatever the mode, the tiles or the threads.  False (on every thread
    // alike) when interrupted: the batch is dropped, nothing was applied.  Every thread must
    // pass a barrier (end_batch) before the weights are read again.
    using RowArrays = std::array<const T* const*, 3>;
    template <class Apply>
    bool gradient_and_update(int t, const std::int64_t* ord, const Batch& b, idx step, double alpha,
                             const RowArrays& ahead, Apply&& apply);
    // The batch's forward pass alone: the loss sums batch_loss reads, the same values as
    // gradient_and_update's (the same rows in the same runs, on any thread count), no gradient
    // (the narrow tail, when there is one, still sums its own into scratch).  False (on every
    // thread alike) when interrupted.
    bool forward_loss(int t, const std::int64_t* ord, const Batch& b, idx step);
    // Writes W_l[j0 .. j0 + nj, q0 .. q0 + len) (updated row pieces, nj <= VW) into the packed copies.
    inline __attribute__((always_inline)) void repack(idx l, idx j0, idx nj, idx q0, idx len);
    // The batch's mean loss (thread 0, after gradient()), with the L2 term.
    double batch_loss(idx bn, double alpha) const;
    // What the batch's sums are divided by: its rows, or its sum of weights.
    double batch_divisor(idx bn) const { return w_ ? w_sum_ : static_cast<double>(bn); }
    // Thread 0 asks should_stop (rate-limited by the caller); the verdict sticks.
    bool poll(int t);
    bool interrupted() const { return abort_.load(); }
    // Every thread of the batch waits for the others (so that thread 0 may read what all of them
    // wrote).
    void sync(int t) { wait_all(t); }
    // The end of batch `step`: thread 0 decides whether to stop (stop, or interrupted) and who
    // runs the next batch (TeamSizer), and every thread learns it.  Returns the step this thread
    // runs next: step + 1, or, for a thread that was parked while thread 0 ran alone, the step at
    // which the team is brought back; -1: leave (the fit ends or stops).
    idx end_batch(int t, bool stop, idx step);

private:
    const T* const X_;
    const T* const y_;
    const idx ldy_;
    const std::vector<const T*> W_;
    const Act act_;
    const Loss loss_;
    const T* const w_;
    const bool average_outputs_;
    double w_sum_ = 0.0;  // the batch's sum of weights, by thread 0 in begin_batch
    idx w_sum_b0_ = -1, w_sum_bn_ = -1;  // the rows in place whose sum w_sum_ holds (-1: none)
    const std::int64_t* order_ = nullptr;
    std::function<bool()> should_stop_;
    std::vector<idx> m_pad_, ld_, grad_offset_;
    idx grad_size_ = 0, act_size_ = 0;
    bool huge_inputs_ = false;
    Schedule sched_full_, sched_last_;
    std::vector<PackedLayer<T>> packed_;
    Buffer<T> grads_, work_, gx_, gy_, gw_, loss_tmp_, tail_work_;
    idx n_work_ = 1, loss_tmp_size_ = 0, tail_ws_ = 0, t0_ = 0;
    bool has_tail_ = false;
    std::vector<double> loss_part_;
    std::vector<std::vector<TailLayer<T>>> tails_;
    struct Tile { idx l, p0, p1, c0, c1; bool bias; };  // a gradient tile: inputs [p0, p1), outputs [c0, c1)
    std::vector<std::vector<Tile>> tiles_;
    struct Col { idx layer, col; };  // weight columns, in the order the update claims them
    std::vector<Col> cols_;
    // per batch parity: the parts taken (bit q: part q) and the next update column to claim
    std::atomic<std::uint32_t> parts_taken_[2] = {0, 0};
    std::atomic<idx> claim_col_[2] = {0, 0};
    static_assert(kMaxParts <= 32, "one bit per part");
    std::optional<SpinBarrier> barrier_;
    // Who runs the batches (thread 0 decides, see end_batch): the sizer and the clock are thread
    // 0's; park_end_ (and park_count_) are written before the end barrier of a batch and read
    // after it, as the exit flags are; join_step_ is published by the increment of wake_gen_
    // (the number of times the team was brought back), done_ when thread 0 has finished.
    TeamSizer sizer_;
    std::chrono::steady_clock::time_point batch_start_;
    double waited_ = 0.0;  // thread 0's time at barriers in this batch (with the team)
    std::atomic<bool> park_end_{false}, done_{false};
    std::atomic<int> park_count_{0};
    alignas(64) std::atomic<int> wake_gen_{0};
    idx join_step_ = 0;
    int team(int t) const { return t == 0 && sizer_.solo() ? 1 : n_threads; }  // threads in this batch
    void wait_all(int t) {
        if (t != 0 || sizer_.solo()) return barrier_->wait();
        const auto t0 = std::chrono::steady_clock::now();
        barrier_->wait();
        waited_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
    void release_parked() {
        done_.store(true, std::memory_order_seq_cst);
        wake_gen_.fetch_add(1, std::memory_order_seq_cst);
        wake_all(wake_gen_);
    }
    double sq_weights_ = 0.0;  // sum of the squared non-bias weights (L2 loss term), by thread 0
    std::atomic<bool> abort_{false}, exit_block_{false}, exit_b1_{false}, exit_end_{false};

    T* act_of(idx w, idx l) const {
        T* p = work_.get() + w * act_size_;
        for (idx j = 0; j < l; ++j) p += kBlock * ld_[j];
        return p;
    }
    void forward_rows(const std::int64_t* ord, idx w, idx b0, idx block, idx r0, idx rows, int t, idx upto);
    void delta_rows(idx w, idx l, idx r0, idx rows);
    void grad_block(const std::int64_t* ord, idx w, idx part, idx l, idx b0, idx block, idx rows, idx p0, idx p1,
                    idx c0, idx c1, bool bias);
    // backward false: the forward pass and the loss sums only (forward_loss).
    void sweep_parts(int t, const std::int64_t* ord, const Batch& b, idx step, bool backward);
    template <class UpdateTile>
    bool sweep_together(int t, const std::int64_t* ord, const Batch& b, bool backward, UpdateTile&& update_tile);
    // The parts' update loop (gradient_and_update): chunks of weight columns claimed by the threads.
    template <class Apply>
    void for_each_gradient_run(idx step, const Batch& b, double alpha, const RowArrays& ahead, Apply& apply);
    // apply for rows [j_begin, j_end) (j_begin a multiple of VW), columns [q0, q1) (at most
    // kColChunk of them) of layer l.
    template <class Apply>
    void update_piece(const Batch& b, double alpha, const RowArrays& ahead, Apply& apply, idx l, idx q0, idx q1,
                      idx j_begin, idx j_end);
};

template <class T>
BatchSweep<T>::BatchSweep(const T* X, const T* y, idx ldy, idx n_rows, const Shape& shape,
                          const std::vector<const T*>& W, Act act, Loss loss, const T* w, bool average_outputs,
                          idx batch_size, const std::int64_t* order, int n_threads_wanted,
                          std::function<bool()> should_stop, std::optional<bool> huge_inputs)
    : s(shape), L(shape.layers()), n(n_rows), d(shape.n_features), n_out(shape.m[shape.layers() - 1]), X_(X), y_(y),
      ldy_(ldy), W_(W), act_(act), loss_(loss), w_(w), average_outputs_(average_outputs),
      should_stop_(std::move(should_stop)) {
    // Batches: consecutive runs of `order` (or of the rows) of batch_size rows, the last shorter.
    bs = (batch_size > 0 && batch_size < n) ? batch_size : n;
    n_batches = (n + bs - 1) / bs;
    last_bn = n - (n_batches - 1) * bs;
    // One batch: its gradient does not depend on the order of its rows, so they are read in
    // place (no gather), as the reference does.
    order_ = n_batches > 1 ? order : nullptr;
    m_pad_.resize(L);
    ld_.resize(L);
    grad_offset_.resize(L);
    for (idx l = 0; l < L; ++l) {
        m_pad_[l] = round_up(s.m[l], VW);
        ld_[l] = activation_stride<T>(m_pad_[l]);
        grad_offset_[l] = grad_size_;
        grad_size_ += (s.k[l] + 1) * m_pad_[l];
        act_size_ += kBlock * ld_[l];
    }
    // has_huge_values(X), or the caller's answer to it (one scan per fit, not per call)
    huge_inputs_ = huge_inputs ? *huge_inputs : has_huge_values(X, n * d);
    sched_full_ = make_schedule(bs, d, grad_size_, sizeof(T));
    sched_last_ = make_schedule(last_bn, d, grad_size_, sizeof(T));
    const idx max_parts = std::max(sched_full_.parts, sched_last_.parts);
    const bool any_parts = max_parts > 1;
    n_threads = static_cast<int>(std::max<idx>(
        1, std::min<idx>(n_threads_wanted, sched_full_.parts > 1 ? sched_full_.parts : sched_full_.n_blocks * 8)));
    barrier_.emplace(n_threads);
    sizer_ = TeamSizer(n_threads);
    batch_start_ = std::chrono::steady_clock::now();

    packed_.reserve(static_cast<std::size_t>(L));
    for (idx l = 0; l < L; ++l) {
        packed_.emplace_back(s.k[l], s.m[l], /*need_bwd=*/l > 0);
        packed_.back().pack(W[l], s.k[l], s.m[l]);
    }
    grads_ = Buffer<T>(max_parts * grad_size_);
    // Block workspace: one per thread when parts are handed out, else one shared.
    n_work_ = any_parts ? n_threads : 1;
    work_ = Buffer<T>(n_work_ * act_size_);
    // Rows gathered in `order` (only when an order is given): one block of X and y per workspace.
    gx_ = Buffer<T>(order_ ? n_work_ * kBlock * d : 0);
    gy_ = Buffer<T>(order_ ? n_work_ * kBlock * ldy : 0);
    gw_ = Buffer<T>(order_ && w_ ? n_work_ * kBlock : 0);
    loss_part_.assign(static_cast<std::size_t>(sched_full_.n_blocks * (kBlock / kLossRows)), 0.0);
    loss_tmp_size_ = loss_scratch_size(n_out);
    loss_tmp_ = Buffer<T>(static_cast<idx>(n_threads) * loss_tmp_size_);

    // The narrow tail: the last layers, from t0 on, when they are all narrower than a vector and
    // the output is one sigmoid unit.  Taken by batches handed out in parts (the cooperative mode
    // keeps the row kernels), so whether a batch takes it depends on the problem only.
    static_assert(kTailRows == kBlock, "the tail takes whole blocks");
    t0_ = L;
    if (loss_ == Loss::binary_log && ldy == 1)
        while (t0_ - 1 >= 1 && L - (t0_ - 1) <= kTailMaxLayers && tail_pays<T>(s.k[t0_ - 1], s.m[t0_ - 1])) --t0_;
    has_tail_ = t0_ < L && any_parts;
    tails_.resize(has_tail_ ? n_work_ : 0);
    for (auto& tl : tails_)
        for (idx l = t0_; l < L; ++l) tl.push_back({W[l], s.k[l], s.m[l], nullptr, m_pad_[l]});
    tail_ws_ = has_tail_ ? tail_workspace(tails_[0]) : 0;
    tail_work_ = Buffer<T>(n_work_ * tail_ws_);

    // Gradient tiles of each layer, for the cooperative mode: the inputs cut into at least four
    // runs per thread (at most kGradInputs each), of nearly equal length in whole register
    // tiles, so that the threads' shares (tile i goes to thread i mod n_threads) are even.
    tiles_.resize(L);
    for (idx l = 0; l < L; ++l) {
        const idx k = s.k[l];
        const idx units = (k + kTileRows2 - 1) / kTileRows2;  // register tiles of inputs
        const idx runs = std::max<idx>(1, std::min<idx>(units, std::max<idx>(4 * n_threads, (k + kGradInputs - 1) / kGradInputs)));
        const auto start = [&](idx r) { return std::min(k, (2 * units * r + runs) / (2 * runs) * kTileRows2); };
        const idx cstep = std::min<idx>(m_pad_[l], kGradVectors * VW);
        for (idx r = 0; r < runs; ++r) {
            const idx p0 = start(r), p1 = start(r + 1);
            for (idx c0 = 0; c0 < m_pad_[l]; c0 += cstep)
                tiles_[l].push_back({l, p0, p1, c0, std::min(m_pad_[l], c0 + cstep), p0 == 0});
        }
    }
    for (idx l = 0; l < L; ++l)
        for (idx c = 0; c <= s.k[l]; ++c) cols_.push_back({l, c});
}

template <class T>
bool BatchSweep<T>::poll(int t) {
    if (t == 0 && should_stop_ && !abort_.load(std::memory_order_relaxed) && should_stop_())
        abort_.store(true, std::memory_order_relaxed);
    return abort_.load(std::memory_order_relaxed);
}

// Rows [r0, r0 + rows) of block `block` of the batch starting at row `b0` (of `ord`): forward
// through layers [0, upto) into act_of(w, .); with upto = L, also the loss sums and the output
// delta written over a_L (else the rest is left to the narrow tail).
template <class T>
void BatchSweep<T>::forward_rows(const std::int64_t* ord, idx w, idx b0, idx block, idx r0, idx rows, int t,
                                 idx upto) {
    const idx g0 = block * kBlock + r0;  // row of the batch of the first row
    const T* a_prev;
    const T* yb;
    const T* wb = nullptr;
    if (ord) {
        T* xg = gx_.get() + w * kBlock * d + r0 * d;
        T* yg = gy_.get() + w * kBlock * ldy_ + r0 * ldy_;
        constexpr idx line = 64 / static_cast<idx>(sizeof(T));  // values per cache line
        constexpr idx ahead = 2;  // rows
        const auto fetch = [&](idx i) {  // the scattered rows defeat the hardware prefetcher
            const T* x = X_ + static_cast<idx>(ord[b0 + g0 + i]) * d;
            for (idx j = 0; j < d; j += line) __builtin_prefetch(x + j);
            __builtin_prefetch(x + d - 1);
        };
        for (idx i = 0; i < std::min(rows, ahead); ++i) fetch(i);
        for (idx i = 0; i < rows; ++i) {
            if (i + ahead < rows) fetch(i + ahead);
            const idx src = static_cast<idx>(ord[b0 + g0 + i]);
            for (idx j = 0; j < d; ++j) xg[i * d + j] = X_[src * d + j];
            for (idx j = 0; j < ldy_; ++j) yg[i * ldy_ + j] = y_[src * ldy_ + j];
        }
        if (w_) {
            T* wg = gw_.get() + w * kBlock + r0;
            for (idx i = 0; i < rows; ++i) wg[i] = w_[ord[b0 + g0 + i]];
            wb = wg;
        }
        a_prev = xg;
        yb = yg;
    } else {
        a_prev = X_ + (b0 + g0) * d;
        yb = y_ + (b0 + g0) * ldy_;
        if (w_) wb = w_ + b0 + g0;
    }
    idx lda = d;
    for (idx l = 0; l < upto; ++l) {
        T* a = act_of(w, l) + r0 * ld_[l];
        const Act act = l < L - 1 ? act_ : training_output_activation<T>(loss_);
        if (l == 0 && huge_inputs_)
            dense_forward_overflow_safe(act, rows, a_prev, lda, packed_[0].fwd, W_[0], d, a, ld_[0]);
        else
            dense_forward(act, rows, a_prev, lda, packed_[l].fwd, a, ld_[l]);
        a_prev = a;
        lda = ld_[l];
    }
    if (upto < L) return;
    output_loss_and_delta(loss_, rows, act_of(w, L - 1) + r0 * ld_[L - 1], ld_[L - 1], n_out, yb, ldy_, wb,
                          &loss_part_[g0 / kLossRows], loss_tmp_.get() + t * loss_tmp_size_);
}

// delta_{l-1} = (delta_l W_l[:, 1:]) * f'(z_{l-1}), rows [r0, r0 + rows), in place.
template <class T>
void BatchSweep<T>::delta_rows(idx w, idx l, idx r0, idx rows) {
    T* a_prev = act_of(w, l - 1) + r0 * ld_[l - 1];
    dense_backward_delta(act_, rows, act_of(w, l) + r0 * ld_[l], ld_[l], packed_[l].bwd, a_prev, a_prev,
                         ld_[l - 1]);
}

// G_l += [1, a_{l-1}]^T delta_l over the block's rows, for inputs [p0, p1), outputs [c0, c1).
template <class T>
void BatchSweep<T>::grad_block(const std::int64_t* ord, idx w, idx part, idx l, idx b0, idx block, idx rows, idx p0,
                               idx p1, idx c0, idx c1, bool bias) {
    const T* A = l > 0 ? act_of(w, l - 1) : ord ? gx_.get() + w * kBlock * d : X_ + (b0 + block * kBlock) * d;
    const idx lda = l == 0 ? d : ld_[l - 1];
    T* G = grads_.get() + part * grad_size_ + grad_offset_[l];
    dense_backward_weights(rows, A, lda, act_of(w, l), ld_[l], G, m_pad_[l], p0, p1, c0, c1, bias);
}

// Each thread takes whole parts; part q covers blocks [q nb / P, (q+1) nb / P).  Parts are
// claimed dynamically: if one thread is slowed (a busy machine), the others take its share.
// Thread t of a team of T starts with parts from t P / T on, so that on an idle machine it takes
// the same parts in every batch, whose rows of X are still in its cache.  The result does not
// depend on who takes which part.
template <class T>
void BatchSweep<T>::sweep_parts(int t, const std::int64_t* ord, const Batch& b, idx step, bool backward) {
    const idx first = b.parts * t / team(t);
    for (idx i = 0; i < b.parts; ++i) {
        const idx q = (first + i) % b.parts;
        const std::uint32_t bit = std::uint32_t(1) << q;
        if (parts_taken_[step % 2].fetch_or(bit, std::memory_order_relaxed) & bit) continue;
        if (backward || has_tail_)
            std::fill(grads_.get() + q * grad_size_, grads_.get() + (q + 1) * grad_size_, T(0));
        for (idx blk = b.n_blocks * q / b.parts; blk < b.n_blocks * (q + 1) / b.parts; ++blk) {
            if (poll(t)) break;
            const idx rows = std::min(b.bn, (blk + 1) * kBlock) - blk * kBlock;
            const idx upto = has_tail_ ? t0_ : L;
            forward_rows(ord, t, b.b0, blk, 0, rows, t, upto);
            if (has_tail_) {
                for (idx l = t0_; l < L; ++l) tails_[t][l - t0_].G = grads_.get() + q * grad_size_ + grad_offset_[l];
                const T* yb = ord ? gy_.get() + t * kBlock : y_ + b.b0 + blk * kBlock;
                const T* wb = !w_ ? nullptr : ord ? gw_.get() + t * kBlock : w_ + b.b0 + blk * kBlock;
                tail_block(act_, rows, act_of(t, t0_ - 1), ld_[t0_ - 1], yb, wb, tails_[t], tail_work_.get() + t * tail_ws_,
                           &loss_part_[blk * kBlock / kLossRows]);
            }
            for (idx l = upto - 1; backward && l >= 0; --l) {
                grad_block(ord, t, q, l, b.b0, blk, rows, 0, s.k[l], 0, m_pad_[l], true);
                if (l > 0) delta_rows(t, l, 0, rows);
            }
        }
    }
}

// All threads on each block together: rows split for the forward pass and the deltas (in runs
// of kLossRows, the loss sums' unit), gradient tiles split for the sums.  In the last block,
// update_tile(tile) is called by the thread that summed the tile, once the tile is final and W_l
// is no longer read: layer 0's tiles right after their sums, a layer l > 0's after the barrier
// that ends its delta (which reads W_l).  False when interrupted before the last block's
// backward pass (nothing updated).
template <class T>
template <class UpdateTile>
bool BatchSweep<T>::sweep_together(int t, const std::int64_t* ord, const Batch& b, bool backward,
                                   UpdateTile&& update_tile) {
    const int nt = team(t);
    for (idx l = 0; backward && l < L; ++l)
        for (idx i = t; i < static_cast<idx>(tiles_[l].size()); i += nt) {
            const Tile& g = tiles_[l][i];
            T* G = grads_.get() + grad_offset_[l];
            for (idx p = g.bias ? 0 : 1 + g.p0; p < 1 + g.p1; ++p)
                std::fill(G + p * m_pad_[l] + g.c0, G + p * m_pad_[l] + g.c1, T(0));
        }
    for (idx blk = 0; blk < b.n_blocks; ++blk) {
        const bool last = blk == b.n_blocks - 1;
        const idx rows = std::min(b.bn, (blk + 1) * kBlock) - blk * kBlock;
        const idx runs = (rows + kLossRows - 1) / kLossRows;
        const idx r0 = std::min(rows, runs * t / nt * kLossRows);
        const idx r1 = std::min(rows, runs * (t + 1) / nt * kLossRows);
        if (r1 > r0) forward_rows(ord, 0, b.b0, blk, r0, r1 - r0, t, L);
        if (t == 0) exit_block_.store(poll(0), std::memory_order_relaxed);
        wait_all(t);
        if (exit_block_.load(std::memory_order_relaxed)) return false;
        for (idx l = L - 1; backward && l >= 0; --l) {
            for (idx i = t; i < static_cast<idx>(tiles_[l].size()); i += nt) {
                const Tile& g = tiles_[l][i];
                grad_block(ord, 0, 0, l, b.b0, blk, rows, g.p0, g.p1, g.c0, g.c1, g.bias);
                if (last && l == 0) update_tile(g);
            }
            if (last && l == 0) break;  // the caller's barrier comes before anything reads W again
            wait_all(t);
            if (l > 0) {
                if (r1 > r0) delta_rows(0, l, r0, r1 - r0);
                wait_all(t);
                if (last)
                    for (idx i = t; i < static_cast<idx>(tiles_[l].size()); i += nt) update_tile(tiles_[l][i]);
            }
        }
    }
    return true;
}

template <class T>
void BatchSweep<T>::begin_batch(int t, idx step, bool l2, const std::int64_t* ord, const Batch& b) {
    if (t != 0) return;
    // rows read in place (a full batch, or batches in natural order) have the same sum every time
    // they come back: kept, not summed again
    if (w_ && (ord || b.b0 != w_sum_b0_ || b.bn != w_sum_bn_)) {
        double sum = 0.0;
        for (idx i = 0; i < b.bn; ++i) sum += static_cast<double>(w_[ord ? ord[b.b0 + i] : b.b0 + i]);
        w_sum_ = sum;
        w_sum_b0_ = ord ? -1 : b.b0;
        w_sum_bn_ = ord ? -1 : b.bn;
    }
    parts_taken_[(step + 1) % 2].store(0, std::memory_order_relaxed);
    claim_col_[(step + 1) % 2].store(0, std::memory_order_relaxed);
    if (l2) sq_weights_ = squared_weights(s, W_);
}

template <class T>
template <class Apply>
bool BatchSweep<T>::gradient_and_update(int t, const std::int64_t* ord, const Batch& b, idx step, double alpha,
                                        const RowArrays& ahead, Apply&& apply) {
    if (b.parts == 1)
        return sweep_together(t, ord, b, /*backward=*/true, [&](const Tile& g) __attribute__((always_inline)) {
            const idx j_end = std::min(g.c1, s.m[g.l]);
            for (idx q0 = g.bias ? 0 : 1 + g.p0; q0 < 1 + g.p1; q0 += kColChunk)
                update_piece(b, alpha, ahead, apply, g.l, q0, std::min(1 + g.p1, q0 + kColChunk), g.c0, j_end);
        });
    sweep_parts(t, ord, b, step, /*backward=*/true);
    if (t == 0) exit_b1_.store(poll(0), std::memory_order_relaxed);
    wait_all(t);
    if (exit_b1_.load(std::memory_order_relaxed)) return false;  // interrupted: the batch is dropped
    for_each_gradient_run(step, b, alpha, ahead, apply);
    return true;
}

template <class T>
bool BatchSweep<T>::forward_loss(int t, const std::int64_t* ord, const Batch& b, idx step) {
    if (b.parts == 1) return sweep_together(t, ord, b, /*backward=*/false, [](const Tile&) {});
    sweep_parts(t, ord, b, step, /*backward=*/false);
    if (t == 0) exit_b1_.store(poll(0), std::memory_order_relaxed);
    wait_all(t);
    return !exit_b1_.load(std::memory_order_relaxed);
}

template <class T>
idx BatchSweep<T>::end_batch(int t, bool stop, idx step) {
    if (t == 0) {
        const bool exit = poll(0) || stop;
        const auto now = std::chrono::steady_clock::now();
        const bool was_solo = sizer_.solo();
        const bool solo_next =
            sizer_.after_batch(std::chrono::duration<double>(now - batch_start_).count(), waited_);
        batch_start_ = now;
        waited_ = 0.0;
        if (!was_solo) {
            exit_end_.store(exit, std::memory_order_relaxed);
            park_end_.store(solo_next, std::memory_order_relaxed);
            if (solo_next) park_count_.fetch_add(1, std::memory_order_relaxed);
            wait_all(0);
            if (solo_next) barrier_->set_size(1);  // the others are parked until brought back
        } else if (!solo_next && !exit) {
            barrier_->set_size(n_threads);
            join_step_ = step + 1;
            wake_gen_.fetch_add(1, std::memory_order_seq_cst);
            wake_all(wake_gen_);
        }
        return exit ? -1 : step + 1;
    }
    barrier_->wait();
    if (exit_end_.load(std::memory_order_relaxed)) return -1;
    if (!park_end_.load(std::memory_order_relaxed)) return step + 1;
    // Parked: the team is back once wake_gen_ counts this park (done_ is set before the last
    // increment, so it is seen first).
    const int target = park_count_.load(std::memory_order_relaxed);
    for (;;) {
        const int g = wake_gen_.load(std::memory_order_seq_cst);
        if (done_.load(std::memory_order_seq_cst)) return -1;
        if (g >= target) return join_step_;
        wait_while_equal(wake_gen_, g);
    }
}

template <class T>
template <class Apply>
void BatchSweep<T>::update_piece(const Batch& b, double alpha_d, const RowArrays& ahead, Apply& apply, idx l, idx q0,
                                 idx q1, idx j_begin, idx j_end) {
    using GV = typename simd<T>::vec;
    constexpr idx line = 64 / static_cast<idx>(sizeof(T));  // values per cache line
    const T tn = w_ ? static_cast<T>(w_sum_) : static_cast<T>(b.bn), alpha = static_cast<T>(alpha_d);
    const bool no_data = w_ && w_sum_ == 0.0;  // all weights zero: the gradient is 0 (see batch_loss)
    const idx parts = b.parts;
    // The gradient of rows [j0, j0 + VW), columns [q0, q1):
    // gt[i][jj] = (sum of the parts of G[q0 + i, j0 + jj]) / n_b, in part order.  A column of W
    // is a row of G: read as whole vectors along G's rows and turned (turn) into rows of W's
    // layout, instead of one value per cache line.
    auto grad_tile = [&](idx j0, T (*gt)[VW]) __attribute__((always_inline)) {
        const T* const g0 = grads_.get() + grad_offset_[l] + j0;
        // at the start of each cache line of G's rows, fetch the next line
        if (j0 % line == 0 && j0 + line < m_pad_[l])
            for (idx q = q0; q < q1; ++q) __builtin_prefetch(g0 + q * m_pad_[l] + line);
        for (idx q = q0; q < q1; ++q) {
            GV v = vload<GV>(g0 + q * m_pad_[l]);
            for (idx part = 1; part < parts; ++part) v += vload<GV>(g0 + part * grad_size_ + q * m_pad_[l]);
            vstore(gt[q - q0], v / vbroadcast<GV>(tn));
        }
    };
    // gT[jj][i] = gt[i][jj] for i < q1 - q0: blocks of VW rows transposed in registers, the
    // rest value by value (the values moved, not changed)
    auto turn = [&](const T (*gt)[VW], T (*gT)[kColChunk]) __attribute__((always_inline)) {
        const idx len = q1 - q0;
        idx i0 = 0;
        for (; i0 + VW <= len; i0 += VW) transpose_block<GV>(gt[i0], VW, gT[0] + i0, kColChunk);
        for (idx i = i0; i < len; ++i)
            for (int jj = 0; jj < VW; ++jj) gT[jj][i] = gt[i][jj];
    };
    // Row j, columns [q0, q1), whose gradient is g (overwritten): penalise, apply.
    // The arithmetic runs along the row (contiguous in W and the solver state, so it
    // vectorises); each element's operations are the same whatever the chunking.
    auto run = [&](idx j, T* __restrict g) __attribute__((always_inline)) {
        const idx k = s.k[l], len = q1 - q0, row = j * (k + 1) + q0;
        const T* const Wr = W_[l] + row;
        // The rows of W and of the solver state are a row apart here (the walk goes down a chunk
        // of columns): fetch every line of the row's piece 4 rows ahead, which the hardware
        // prefetcher does not
        if (j + 4 < s.m[l]) {
            const idx off = row + 4 * (k + 1);
#pragma GCC unroll 3
            for (const T* const* a : ahead)
                if (a) {
                    const T* p = a[l] + off;
                    for (idx i = 0; i < len - 1; i += line) __builtin_prefetch(p + i, 1);
                    __builtin_prefetch(p + len - 1, 1);
                }
        }
        if (alpha_d > 0)
            for (idx i = q0 == 0 ? 1 : 0; i < len; ++i) g[i] += alpha * Wr[i] / tn;  // not the bias
        if (no_data)
            for (idx i = 0; i < len; ++i) g[i] = T(0);
        apply(l, j, q0, len, static_cast<const T*>(g));
    };
    alignas(64) T gt[kColChunk][VW];
    alignas(64) T gT[VW][kColChunk];
    for (idx j0 = j_begin; j0 < j_end; j0 += VW) {
        grad_tile(j0, gt);
        turn(gt, gT);
        const idx nj = std::min(j_end, j0 + VW) - j0;
        for (idx j = j0; j < j0 + nj; ++j) run(j, gT[j - j0]);
        repack(l, j0, nj, q0, q1 - q0);
    }
}

template <class T>
template <class Apply>
void BatchSweep<T>::for_each_gradient_run(idx step, const Batch& b, double alpha, const RowArrays& ahead,
                                          Apply& apply) {
    const idx n_cols = static_cast<idx>(cols_.size());
    for (idx c0; (c0 = claim_col_[step % 2].fetch_add(kColChunk, std::memory_order_relaxed)) < n_cols;) {
        const idx c1 = std::min(n_cols, c0 + kColChunk);
        for (idx r0 = c0, r1; r0 < c1; r0 = r1) {
            const idx l = cols_[r0].layer;
            for (r1 = r0; r1 < c1 && cols_[r1].layer == l;) ++r1;
            update_piece(b, alpha, ahead, apply, l, cols_[r0].col, cols_[r1 - 1].col + 1, 0, s.m[l]);
        }
    }
}

// The packed copies: forward (q - 1, j) lies in row j's panel, pw apart in q, so a block of VW
// rows inside the layer is turned in registers, VW columns at a time (the rest value by value);
// backward (layer > 0) (j, q - 1) lies in runs along q, one per panel of q.  Values are copied,
// never changed.
template <class T>
inline __attribute__((always_inline)) void BatchSweep<T>::repack(idx l, idx j0, idx nj, idx q0, idx len) {
    using GV = typename simd<T>::vec;
    const idx ldw = s.k[l] + 1;
    const T* const W = W_[l] + j0 * ldw + q0;  // W[r * ldw + i] = W_l[j0 + r, q0 + i]
    const PackedPanels<T>& pf = packed_[l].fwd;
    const idx i_begin = q0 == 0 ? 1 : 0;  // column 0 is the bias, the product's init
    if (q0 == 0)
        for (idx r = 0; r < nj; ++r) pf.init[j0 + r] = W[r * ldw];
    const idx jc0 = j0 / (2 * VW) * (2 * VW);
    const idx fwd_pw = pf.panel_width(jc0);
    T* const fwd = pf.data + pf.k * jc0 + (j0 - jc0);  // fwd[(q - 1) * pw + r]: (q - 1, j0 + r)
    idx i = i_begin;
    if (nj == VW && j0 % VW == 0)
        for (; i + VW <= len; i += VW) transpose_block<GV>(W + i, ldw, fwd + (q0 + i - 1) * fwd_pw, fwd_pw);
    for (idx r = 0; r < nj; ++r)
        for (idx c = i; c < len; ++c) fwd[(q0 + c - 1) * fwd_pw + r] = W[r * ldw + c];
    if (l == 0) return;
    const PackedPanels<T>& pb = packed_[l].bwd;
    for (idx c = q0 + i_begin - 1; c < q0 + len - 1;) {  // c = q - 1: runs up to the end of c's panel
        const idx c0 = c / (2 * VW) * (2 * VW), run = std::min(q0 + len - 1, c0 + 2 * VW) - c;
        for (idx r = 0; r < nj; ++r) {
            const T* const from = W + r * ldw + (c + 1 - q0);
            std::copy(from, from + run, pb.data + packed_index(pb, j0 + r, c));
        }
        c += run;
    }
}

template <class T>
double BatchSweep<T>::batch_loss(idx bn, double alpha) const {
    // A batch whose weights are all zero holds no data: loss and gradient 0 (scikit-learn divides
    // 0 by 0 there), and the solver steps with that zero gradient.
    if (w_ && w_sum_ == 0.0) return 0.0;
    double total = 0.0;
    for (idx r = 0; r < (bn + kLossRows - 1) / kLossRows; ++r) total += loss_part_[r];
    const double divisor = batch_divisor(bn);
    double loss = total / divisor;
    if (average_outputs_) loss /= static_cast<double>(n_out);
    if (alpha > 0) loss += 0.5 * alpha * sq_weights_ / divisor;
    return loss;
}

}  // namespace backprop
