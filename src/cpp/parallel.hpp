// parallel.hpp -- memory and threads for the kernels: aligned buffers, per-thread scratch, the
// barrier and the team that run one fit or one prediction.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "simd.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define BACKPROP_PAUSE() _mm_pause()
#else
#define BACKPROP_PAUSE() ((void)0)
#endif

namespace backprop {

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

// What a thread keeps between calls is bounded: a request for much less than the thread holds
// gives the excess back (else one call on a wide network would pin its memory for the life of
// the thread, the interpreter's main thread included).  Up to kScratchKeepBytes is always kept,
// so that repeated small calls allocate nothing.
constexpr std::size_t kScratchKeepBytes = std::size_t(16) << 20;
inline bool scratch_too_big(std::size_t held_bytes, std::size_t needed_bytes) {
    return held_bytes > kScratchKeepBytes && held_bytes / 4 > needed_bytes;
}

// Per-thread scratch memory that grows as needed and is reused by later calls on the same
// thread (so that predicting one row allocates nothing).  Not zeroed; 64-byte aligned.  A
// later request on the same thread may move it.  Throws std::bad_alloc: call it on the calling
// thread only, before a team starts.
template <class T>
T* thread_scratch(std::size_t count) {
    thread_local std::vector<T> buf;
    const std::size_t needed = count + 64 / sizeof(T);
    if (buf.size() < needed || scratch_too_big(buf.size() * sizeof(T), needed * sizeof(T))) {
        std::vector<T>().swap(buf);  // the old contents are not needed: release them first
        buf.resize(needed);
    }
    auto addr = reinterpret_cast<std::uintptr_t>(buf.data());
    return reinterpret_cast<T*>((addr + 63) / 64 * 64);
}

// Barrier for the threads of one fit: spins briefly (the usual case on an idle machine, where
// the others arrive within microseconds), then yields and finally sleeps in short naps, so that
// a thread waiting for a descheduled partner (a busy machine) gives its core away instead of
// burning it.
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
        for (int spins = 0; gen_.load(std::memory_order_acquire) == gen; ++spins) {
            if (spins < 500) BACKPROP_PAUSE();
            else if (spins < 2000) std::this_thread::yield();
            else std::this_thread::sleep_for(std::chrono::microseconds(20));
        }
    }
private:
    const int n_;
    alignas(64) std::atomic<int> count_{0};
    alignas(64) std::atomic<int> gen_{0};
};

// Runs body(t) on threads t = 0..T-1 (t = 0 on the calling thread) and joins them.
//
// Every helper thread is started before any of them runs body: when the system refuses one (a
// limit on the process's threads or address space), the started ones leave without running it
// and are joined, and a std::runtime_error says so.  Nothing has been computed then, so the
// caller's arrays are as they were, and no thread is left behind (a std::thread that failed to
// start while others were still joinable used to end the process).
inline void run_team(int n_threads, const std::function<void(int)>& body) {
    if (n_threads <= 1) {
        body(0);
        return;
    }
    std::atomic<int> go{0};  // 0: wait for the team to be complete; 1: run body; -1: leave
    const auto helper = [&go, &body](int t) {
        int g;
        while ((g = go.load(std::memory_order_acquire)) == 0) std::this_thread::yield();
        if (g == 1) body(t);
    };
    std::vector<std::thread> team;
    team.reserve(static_cast<std::size_t>(n_threads - 1));
    try {
        for (int t = 1; t < n_threads; ++t) team.emplace_back(helper, t);
    } catch (const std::system_error& e) {
        go.store(-1, std::memory_order_release);
        for (auto& th : team) th.join();
        throw std::runtime_error("could not start thread " + std::to_string(team.size() + 2) + " of " +
                                 std::to_string(n_threads) + " (" + e.what() +
                                 "): the system limits this process's threads or memory; pass a smaller n_threads");
    }
    go.store(1, std::memory_order_release);
    body(0);
    for (auto& th : team) th.join();
}

// The number of hardware threads (the default n_threads), at least 1.
inline int default_threads() {
    const unsigned hw = std::thread::hardware_concurrency();
    return hw == 0 ? 1 : static_cast<int>(hw);
}

}  // namespace backprop
