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
// Parallel schedule (T threads, results bitwise identical for every T):
//   phase A  rows are cut into fixed blocks of kBlock samples; each thread takes a contiguous
//            range of blocks through forward, loss and all deltas (rows are independent).
//   phase B  weight-gradient sums.  Samples are cut into P parts (P depends on the problem
//            only, never on T); work items are (layer, part, input range, output range); each
//            output element is summed over its part's samples in a fixed order.
//   phase C  per weight column: G = sum over parts in part order, W -= lr * G / n, repack.
// Phases are separated by a spinning barrier.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include "binary_log_loss.hpp"
#include "dense_sigmoid.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define BACKPROP_PAUSE() _mm_pause()
#else
#define BACKPROP_PAUSE() ((void)0)
#endif

namespace backprop {

constexpr idx kBlock = 256;      // rows per phase-A block (and per loss partial sum)
constexpr idx kGradRows = 128;   // rows per cache chunk of the gradient sums
constexpr idx kGradInputs = 128; // inputs per gradient work item
constexpr idx kGradOutputs = 256;// outputs per gradient work item

// A 64-byte aligned buffer of T, zero-initialised.
template <class T>
struct Buffer {
    std::unique_ptr<T[], void (*)(T*)> ptr{nullptr, [](T*) {}};
    idx size = 0;
    Buffer() = default;
    explicit Buffer(idx n) : size(n) {
        const std::size_t bytes = static_cast<std::size_t>(std::max<idx>(n, 1)) * sizeof(T);
        void* p = ::operator new[](round_up(static_cast<idx>(bytes), 64), std::align_val_t(64));
        std::memset(p, 0, bytes);
        ptr = std::unique_ptr<T[], void (*)(T*)>(static_cast<T*>(p),
                                                 [](T* q) { ::operator delete[](q, std::align_val_t(64)); });
    }
    T* get() const { return ptr.get(); }
};

class SpinBarrier {
public:
    explicit SpinBarrier(int n) : n_(n) {}
    void wait() {
        if (n_ == 1) return;
        const int gen = gen_.load(std::memory_order_acquire);
        if (count_.fetch_add(1, std::memory_order_acq_rel) == n_ - 1) {
            count_.store(0, std::memory_order_relaxed);
            gen_.fetch_add(1, std::memory_order_acq_rel);
            return;
        }
        for (unsigned spins = 0; gen_.load(std::memory_order_acquire) == gen; ++spins) {
            if (spins < 4096) BACKPROP_PAUSE();
            else std::this_thread::yield();
        }
    }
private:
    const int n_;
    alignas(64) std::atomic<int> count_{0};
    alignas(64) std::atomic<int> gen_{0};
};

// Runs body(t) on threads t = 0..T-1 (t = 0 on the calling thread) and joins them.
inline void run_team(int n_threads, const std::function<void(int)>& body) {
    std::vector<std::thread> team;
    team.reserve(static_cast<std::size_t>(n_threads - 1));
    for (int t = 1; t < n_threads; ++t) team.emplace_back(body, t);
    body(0);
    for (auto& th : team) th.join();
}

inline int default_threads() {
    const unsigned hw = std::thread::hardware_concurrency();
    return hw == 0 ? 1 : static_cast<int>(hw);
}

// The architecture of one network, read from its weight matrices.
struct Shape {
    idx n_features = 0;
    std::vector<idx> k, m;  // inputs and outputs of each layer
    idx layers() const { return static_cast<idx>(m.size()); }
};

template <class T>
struct PackedLayer {
    Buffer<T> fwd_data, fwd_init, bwd_data;
    PackedPanels<T> fwd, bwd;
    PackedLayer(idx k, idx m)
        : fwd_data(PackedPanels<T>::size(k, m)), fwd_init(round_up(m, simd<T>::width)),
          bwd_data(PackedPanels<T>::size(m, k)) {
        fwd.data = fwd_data.get();
        fwd.init = fwd_init.get();
        bwd.data = bwd_data.get();
    }
    void pack(const T* W, idx k, idx m) {
        pack_forward(W, m, k, fwd);
        pack_backward(W, m, k, bwd);
    }
};

struct TrainResult {
    idx n_iter = 0;
    bool interrupted = false;
};

// Trains in place.  W[l] points to (m_l, k_l + 1) row-major weights; loss_out receives one value
// per iteration.  should_stop() is polled by thread 0 once per iteration.
template <class T>
TrainResult train(const T* X, const T* y, idx n, const Shape& s, const std::vector<T*>& W, T learning_rate,
                  idx max_iter, int n_threads, T* loss_out, const std::function<bool()>& should_stop) {
    constexpr int VW = simd<T>::width;
    const idx L = s.layers();
    const idx n_blocks = (n + kBlock - 1) / kBlock;
    n_threads = static_cast<int>(std::max<idx>(1, std::min<idx>(n_threads, n_blocks)));

    std::vector<idx> m_pad(L);
    idx act_cols = 0, grad_size = 0;
    for (idx l = 0; l < L; ++l) {
        m_pad[l] = round_up(s.m[l], VW);
        act_cols += s.m[l];
        grad_size += (s.k[l] + 1) * m_pad[l];
    }

    // Number of gradient parts: a power of two <= 8, at least two blocks per part, and partial
    // sums that cost at most a tenth of the activations (or one copy of the gradient).
    idx parts = 1;
    while (parts * 2 <= 8 && parts * 2 * 2 <= n_blocks &&
           parts * 2 * grad_size <= std::max<idx>(grad_size, n * act_cols / 10))
        parts *= 2;

    std::vector<Buffer<T>> act, delta;
    std::vector<PackedLayer<T>> packed;
    packed.reserve(static_cast<std::size_t>(L));
    for (idx l = 0; l < L; ++l) {
        act.emplace_back(n * m_pad[l]);
        delta.emplace_back(n * m_pad[l]);
        packed.emplace_back(s.k[l], s.m[l]);
        packed.back().pack(W[l], s.k[l], s.m[l]);
    }
    Buffer<T> grads(parts * grad_size);
    std::vector<idx> grad_offset(L);  // offset of layer l inside one part's gradient
    for (idx l = 0, off = 0; l < L; ++l) {
        grad_offset[l] = off;
        off += (s.k[l] + 1) * m_pad[l];
    }
    std::vector<double> block_loss(n_blocks);
    Buffer<T> loss_tmp(n);

    // Phase B work items, assigned greedily to threads by estimated cost.
    struct GradItem { idx layer, part, r0, r1, p0, p1, c0, c1; bool bias; };
    std::vector<std::vector<GradItem>> items(n_threads);
    {
        std::vector<GradItem> all;
        for (idx l = 0; l < L; ++l)
            for (idx q = 0; q < parts; ++q) {
                const idx b0 = n_blocks * q / parts, b1 = n_blocks * (q + 1) / parts;
                const idx r0 = b0 * kBlock, r1 = std::min(n, b1 * kBlock);
                for (idx p0 = 0; p0 < std::max<idx>(s.k[l], 1); p0 += kGradInputs)
                    for (idx c0 = 0; c0 < m_pad[l]; c0 += kGradOutputs)
                        all.push_back({l, q, r0, r1, p0, std::min(s.k[l], p0 + kGradInputs), c0,
                                       std::min(m_pad[l], c0 + kGradOutputs), p0 == 0});
            }
        std::vector<double> load(n_threads, 0.0);
        std::stable_sort(all.begin(), all.end(), [](const GradItem& a, const GradItem& b) {
            return (a.r1 - a.r0) * (a.p1 - a.p0 + 1) * (a.c1 - a.c0) > (b.r1 - b.r0) * (b.p1 - b.p0 + 1) * (b.c1 - b.c0);
        });
        for (const auto& it : all) {
            const int t = static_cast<int>(std::min_element(load.begin(), load.end()) - load.begin());
            load[t] += static_cast<double>((it.r1 - it.r0) * (it.p1 - it.p0 + 1) * (it.c1 - it.c0));
            items[t].push_back(it);
        }
    }
    // Phase C work: weight columns (layer, column) split evenly by count of weights.
    struct Col { idx layer, col; };
    std::vector<Col> cols;
    for (idx l = 0; l < L; ++l)
        for (idx c = 0; c <= s.k[l]; ++c) cols.push_back({l, c});

    SpinBarrier barrier(n_threads);
    std::atomic<bool> stop{false};
    idx iterations_done = 0;
    const T inv_n = T(1) / static_cast<T>(n);
    (void)inv_n;

    auto body = [&](int t) {
        const idx blk0 = n_blocks * t / n_threads, blk1 = n_blocks * (t + 1) / n_threads;
        const idx col0 = static_cast<idx>(cols.size()) * t / n_threads;
        const idx col1 = static_cast<idx>(cols.size()) * (t + 1) / n_threads;
        for (idx it = 0; it < max_iter; ++it) {
            // ---- phase A: forward, loss, deltas for this thread's blocks
            for (idx b = blk0; b < blk1; ++b) {
                const idx r0 = b * kBlock, rows = std::min(n, r0 + kBlock) - r0;
                const T* a_prev = X + r0 * s.n_features;
                idx lda = s.n_features;
                for (idx l = 0; l < L; ++l) {
                    T* a = act[l].get() + r0 * m_pad[l];
                    dense_sigmoid_forward(rows, a_prev, lda, packed[l].fwd, a, m_pad[l]);
                    a_prev = a;
                    lda = m_pad[l];
                }
                const idx out = L - 1;
                const T* y_hat = act[out].get() + r0 * m_pad[out];
                block_loss[b] = binary_log_loss_sum(rows, y_hat, m_pad[out], y + r0, loss_tmp.get() + r0);
                binary_log_loss_backward(rows, y_hat, m_pad[out], y + r0, delta[out].get() + r0 * m_pad[out],
                                         m_pad[out]);
                for (idx l = L - 1; l >= 1; --l)
                    dense_sigmoid_backward_delta(rows, delta[l].get() + r0 * m_pad[l], m_pad[l], packed[l].bwd,
                                                 act[l - 1].get() + r0 * m_pad[l - 1],
                                                 delta[l - 1].get() + r0 * m_pad[l - 1], m_pad[l - 1]);
            }
            barrier.wait();
            // ---- phase B: partial weight-gradient sums
            for (const GradItem& g : items[t]) {
                const idx l = g.layer;
                const idx ldg = m_pad[l];
                T* G = grads.get() + g.part * grad_size + grad_offset[l];
                for (idx p = (g.bias ? 0 : 1 + g.p0); p < 1 + g.p1; ++p)
                    std::fill(G + p * ldg + g.c0, G + p * ldg + g.c1, T(0));
                const T* A = l == 0 ? X : act[l - 1].get();
                const idx lda = l == 0 ? s.n_features : m_pad[l - 1];
                const T* D = delta[l].get();
                for (idx r = g.r0; r < g.r1; r += kGradRows) {
                    const idx rows = std::min(g.r1, r + kGradRows) - r;
                    dense_sigmoid_backward_weights(rows, A + r * lda, lda, D + r * ldg, ldg, G, ldg, g.p0, g.p1,
                                                   g.c0, g.c1, g.bias);
                }
            }
            barrier.wait();
            // ---- phase C: reduce parts in order, update, repack
            for (idx ci = col0; ci < col1; ++ci) {
                const idx l = cols[ci].layer, q = cols[ci].col, k = s.k[l], m = s.m[l];
                const idx ldg = m_pad[l];
                T* Wl = W[l];
                for (idx j = 0; j < m; ++j) {
                    T g = grads.get()[grad_offset[l] + q * ldg + j];
                    for (idx part = 1; part < parts; ++part)
                        g += grads.get()[part * grad_size + grad_offset[l] + q * ldg + j];
                    const T dW = g / static_cast<T>(n);
                    Wl[j * (k + 1) + q] -= learning_rate * dW;
                    const T w = Wl[j * (k + 1) + q];
                    if (q == 0) {
                        packed[l].fwd.init[j] = w;
                    } else {
                        packed[l].fwd.data[packed_index(packed[l].fwd, q - 1, j)] = w;
                        packed[l].bwd.data[packed_index(packed[l].bwd, j, q - 1)] = w;
                    }
                }
            }
            if (t == 0) {
                double total = 0.0;
                for (idx b = 0; b < n_blocks; ++b) total += block_loss[b];
                loss_out[it] = static_cast<T>(total / static_cast<double>(n));
                iterations_done = it + 1;
                if (should_stop && should_stop()) stop.store(true, std::memory_order_relaxed);
            }
            barrier.wait();
            if (stop.load(std::memory_order_relaxed)) break;
        }
    };
    run_team(n_threads, body);
    return TrainResult{iterations_done, stop.load()};
}

// p[i] = P(class 1 | X[i]) for n rows.  Rows are processed in blocks so that memory stays small.
template <class T>
void predict_proba(const T* X, idx n, const Shape& s, const std::vector<const T*>& W, T* p, int n_threads) {
    const idx L = s.layers();
    std::vector<PackedLayer<T>> packed;
    packed.reserve(static_cast<std::size_t>(L));
    idx widest = 1;
    for (idx l = 0; l < L; ++l) {
        packed.emplace_back(s.k[l], s.m[l]);
        pack_forward(W[l], s.m[l], s.k[l], packed.back().fwd);
        widest = std::max(widest, round_up(s.m[l], simd<T>::width));
    }
    const idx n_blocks = (n + kBlock - 1) / kBlock;
    // Threads only pay off for large inputs (each costs tens of microseconds to start).
    idx work = 0;
    for (idx l = 0; l < L; ++l) work += s.k[l] * s.m[l];
    const idx min_rows_per_thread = std::max<idx>(kBlock, 2000000 / std::max<idx>(work, 1));
    n_threads = static_cast<int>(std::max<idx>(1, std::min<idx>(n_threads, n / min_rows_per_thread)));
    auto body = [&](int t) {
        Buffer<T> buf0(kBlock * widest), buf1(kBlock * widest);
        const idx blk0 = n_blocks * t / n_threads, blk1 = n_blocks * (t + 1) / n_threads;
        for (idx b = blk0; b < blk1; ++b) {
            const idx r0 = b * kBlock, rows = std::min(n, r0 + kBlock) - r0;
            const T* a_prev = X + r0 * s.n_features;
            idx lda = s.n_features;
            T* bufs[2] = {buf0.get(), buf1.get()};
            for (idx l = 0; l < L; ++l) {
                const idx ld = round_up(s.m[l], simd<T>::width);
                dense_sigmoid_forward(rows, a_prev, lda, packed[l].fwd, bufs[l % 2], ld);
                a_prev = bufs[l % 2];
                lda = ld;
            }
            for (idx i = 0; i < rows; ++i) p[r0 + i] = a_prev[i * lda];  // the single output unit
        }
    };
    run_team(n_threads, body);
}

}  // namespace backprop
