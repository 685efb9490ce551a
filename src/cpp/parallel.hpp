// parallel.hpp -- memory and threads for the kernels: aligned buffers, per-thread scratch, the
// barrier and the team that run one fit or one prediction.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>  // std::once_flag
#include <new>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "simd.hpp"

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif
#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define BACKPROP_PAUSE() _mm_pause()
#else
#define BACKPROP_PAUSE() ((void)0)
#endif

namespace backprop {

#if defined(__x86_64__) || defined(__i386__)
constexpr unsigned kFlushSubnormalsBits = 0x8040;  // MXCSR: flush-to-zero (15) and denormals-are-zero (6)
inline unsigned fp_mode() { return _mm_getcsr(); }
inline void set_fp_mode(unsigned mode) { _mm_setcsr(mode); }
#else
constexpr unsigned kFlushSubnormalsBits = 0;
inline unsigned fp_mode() { return 0; }
inline void set_fp_mode(unsigned) {}
#endif

// The calling thread's floating-point mode before the innermost FlushSubnormals in scope on it
// (nullptr: none in scope).
inline const unsigned*& caller_fp_mode() {
    thread_local const unsigned* mode = nullptr;
    return mode;
}

// While in scope, the thread computes with subnormal numbers flushed to zero: results below the
// smallest normal number are 0 and such inputs count as 0 (x86: MXCSR's FTZ and DAZ; elsewhere
// nothing changes).  Training arithmetic runs so: a subnormal activation or delta is below any
// sum it enters by more than the dtype's precision, and each operation on one costs a hundred
// cycles or more on many x86 cores (a network whose hidden units saturate makes many of them).
// The thread's mode is restored at the end; CallerFpMode has it back for code that is not ours.
class FlushSubnormals {
public:
    FlushSubnormals() : saved_(fp_mode()), outer_(caller_fp_mode()) {
        caller_fp_mode() = &saved_;
        set_fp_mode(saved_ | kFlushSubnormalsBits);
    }
    ~FlushSubnormals() {
        set_fp_mode(saved_);
        caller_fp_mode() = outer_;
    }
    FlushSubnormals(const FlushSubnormals&) = delete;
    FlushSubnormals& operator=(const FlushSubnormals&) = delete;
private:
    const unsigned saved_;
    const unsigned* const outer_;
};

// The mode the thread had before its FlushSubnormals, while in scope (the Python callbacks of a
// fit: the user's code computes as it would outside the fit); nothing without one.
class CallerFpMode {
public:
    CallerFpMode() : current_(fp_mode()) {
        if (const unsigned* m = caller_fp_mode()) set_fp_mode(*m);
    }
    ~CallerFpMode() { set_fp_mode(current_); }
    CallerFpMode(const CallerFpMode&) = delete;
    CallerFpMode& operator=(const CallerFpMode&) = delete;
private:
    const unsigned current_;
};

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

// Blocking on an int: wait_while_equal(a, v) returns once a != v (or spuriously: callers
// re-check in a loop), wake_all(a) wakes every thread waiting on a.  Linux futex; elsewhere the
// standard library's atomic wait.
inline void wait_while_equal(std::atomic<int>& a, int v) {
#if defined(__linux__)
    syscall(SYS_futex, reinterpret_cast<int*>(&a), FUTEX_WAIT_PRIVATE, v, nullptr, nullptr, 0);
#else
    a.wait(v, std::memory_order_seq_cst);
#endif
}
inline void wake_all(std::atomic<int>& a) {
#if defined(__linux__)
    syscall(SYS_futex, reinterpret_cast<int*>(&a), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
#else
    a.notify_all();
#endif
}

// Waits until a != old: spins for up to spin_seconds, then sleeps, saying so in `sleeping`
// (so that the thread that changes `a` makes the wake-up call only when someone sleeps).
inline void wait_for_change(std::atomic<int>& a, int old, std::atomic<int>& sleeping, double spin_seconds) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int spins = 1; a.load(std::memory_order_acquire) == old; ++spins) {
        BACKPROP_PAUSE();
        if (spins % 64 == 0 &&
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() > spin_seconds) {
            sleeping.fetch_add(1, std::memory_order_seq_cst);
            while (a.load(std::memory_order_seq_cst) == old) wait_while_equal(a, old);
            sleeping.fetch_sub(1, std::memory_order_relaxed);
            return;
        }
    }
}
// The other side of wait_for_change: a's change is published, sleepers are woken.
inline void publish_change(std::atomic<int>& a, int delta, std::atomic<int>& sleeping) {
    a.fetch_add(delta, std::memory_order_seq_cst);
    if (sleeping.load(std::memory_order_seq_cst) > 0) wake_all(a);
}

// Barrier for the threads of one fit: spins for up to kSpinSeconds (the usual case on an idle
// machine, where the others arrive within microseconds), then sleeps until the last one
// arrives, so that a thread waiting for a descheduled partner gives its core away instead of
// burning it.  The last arriver makes the wake-up call only when someone sleeps.  The number of
// threads may be changed by set_size while no thread is inside wait (between barriers, by the
// one thread that then runs on alone or brings the others back).
class SpinBarrier {
public:
    static constexpr double kSpinSeconds = 30e-6;
    explicit SpinBarrier(int n) : n_(n) {}
    void set_size(int n) { n_.store(n, std::memory_order_relaxed); }
    void wait() {
        const int n = n_.load(std::memory_order_relaxed);  // read before arriving (see set_size)
        if (n == 1) return;
        const int gen = gen_.load(std::memory_order_acquire);
        if (count_.fetch_add(1, std::memory_order_acq_rel) == n - 1) {
            count_.store(0, std::memory_order_relaxed);
            publish_change(gen_, 1, sleepers_);
            return;
        }
        wait_for_change(gen_, gen, sleepers_, kSpinSeconds);
    }
private:
    std::atomic<int> n_;
    alignas(64) std::atomic<int> count_{0};
    alignas(64) std::atomic<int> gen_{0};
    alignas(64) std::atomic<int> sleepers_{0};
};

// How many threads should run the next batch of a fit: the whole team, or thread 0 alone when
// the machine has no core free for the others.  Decided by thread 0 from what it measures,
// window by window (kWindowBatches batches and kWindowSeconds at least): while the team runs,
// the share of thread 0's time spent waiting for the others at barriers; when that passes
// kLateShare (a partner descheduled, the others' cores busy), thread 0 runs alone; a wait that
// long ends the window at once, after kWindowSeconds of waiting, or kProbeSeconds while the
// team is unproven (the call's first window, a probe), so that a busy machine costs a
// millisecond of waiting there, not four.  Each choice must then prove itself against the last
// window of the other, per batch: alone, it goes back to the team at once when it is clearly
// slower (and the next alarm is acted on only after twice as many team windows, up to
// kMaxHoldWindows, until going alone proves right again: an idle machine pays little for the
// waits of an uneven split); otherwise it tries the team again after 1, 2, 4 ...
// kMaxSoloWindows windows, and the team stays only if it is clearly faster than the best
// window alone.  So a busy machine costs little probing and one that frees up is noticed
// within a fraction of a second.  Only the speed depends on it: the partition of the work (and
// so every result) does not depend on who does it.
class TeamSizer {
public:
    static constexpr idx kWindowBatches = 8;
    static constexpr double kWindowSeconds = 4e-3;
    static constexpr double kProbeSeconds = 1e-3;
    static constexpr double kLateShare = 0.3;
    static constexpr double kGain = 0.9;  // "clearly faster": less than this times the other's time
    static constexpr int kMaxSoloWindows = 64;
    static constexpr int kMaxHoldWindows = 64;

    TeamSizer() = default;
    explicit TeamSizer(int n_threads) : adaptive_(n_threads > 1) {}
    bool solo() const { return solo_; }
    // After each batch (thread 0): its wall time and thread 0's waiting at barriers, in seconds.
    // Returns whether the next batch runs on thread 0 alone.
    bool after_batch(double seconds, double waited) {
        if (!adaptive_) return false;
        time_ += seconds;
        wait_ += waited;
        ++batches_;
        const bool unproven = probing_ || team_per_batch_ == 0.0;  // a probe, or the call's first window
        const bool late = !solo_ && hold_ == 0 && wait_ >= (unproven ? kProbeSeconds : kWindowSeconds) &&
                          wait_ > kLateShare * time_;
        if (!late && (batches_ < kWindowBatches || time_ < kWindowSeconds)) return solo_;
        const double per_batch = time_ / static_cast<double>(batches_);
        if (solo_) {
            best_solo_ = std::min(best_solo_, per_batch);
            if (kGain * per_batch > team_per_batch_) {  // the team did better, waits and all
                solo_ = false;
                hold_ = next_hold_;
                next_hold_ = std::min(2 * next_hold_, kMaxHoldWindows);
            } else if (--solo_left_ <= 0) {
                solo_ = false;
                probing_ = true;
            }
        } else {
            team_per_batch_ = per_batch;
            if (probing_) {
                probing_ = false;
                if (per_batch < kGain * best_solo_) {
                    backoff_ = 1;
                } else {  // alone was right: alarms count again at once
                    go_solo(std::min(2 * backoff_, kMaxSoloWindows));
                    next_hold_ = 1;
                }
            } else if (hold_ > 0) {
                --hold_;
            } else if (wait_ > kLateShare * time_) {
                go_solo(backoff_);
            }
        }
        time_ = wait_ = 0.0;
        batches_ = 0;
        return solo_;
    }
private:
    void go_solo(int windows) {
        solo_ = true;
        backoff_ = windows;
        solo_left_ = windows;
        best_solo_ = std::numeric_limits<double>::infinity();
    }
    bool adaptive_ = false;
    bool solo_ = false, probing_ = false;
    int backoff_ = 1, solo_left_ = 0, hold_ = 0, next_hold_ = 1;
    idx batches_ = 0;
    double time_ = 0.0, wait_ = 0.0, best_solo_ = 0.0, team_per_batch_ = 0.0;
};

inline std::runtime_error thread_refused(std::size_t started, int n_threads, const std::system_error& e) {
    return std::runtime_error("could not start thread " + std::to_string(started + 2) + " of " +
                              std::to_string(n_threads) + " (" + e.what() +
                              "): the system limits this process's threads or memory; pass a smaller n_threads");
}

// Helper threads kept from call to call, so that a team costs the wake-up of parked helpers
// rather than starting threads (tens of microseconds each), which calls made many times over (an
// L-BFGS evaluation, a partial_fit, a block of a dask fit) would pay every time.  An idle helper
// spins for kIdleSpinSeconds after its part, then sleeps on a futex: the next call of such a
// loop usually comes within that time (an L-BFGS evaluation follows scipy's step about 100 us
// later) and finds it awake, where a sleeping helper takes tens of microseconds to run again;
// after a caller's last call, each helper spins that long on its core.  One team at a
// time: a call that finds the pool busy (another Python thread's, or a team started from
// inside a team) gets false and starts threads of its own.  Helpers are never destroyed (the
// pool lives as long as the process; the process's exit ends them where they sleep), and a
// forked child, which has none of its parent's threads, starts a pool of its own.
class TeamPool {
public:
    static constexpr double kIdleSpinSeconds = 300e-6;

    static TeamPool& of_this_process() {
        static std::once_flag registered;
        std::call_once(registered, [] {
#if defined(__unix__) || defined(__APPLE__)
            // the child's pool is a new one; the parent's (its helpers absent) is left unused
            pthread_atfork(nullptr, nullptr, [] { current().store(nullptr, std::memory_order_relaxed); });
#endif
        });
        TeamPool* p = current().load(std::memory_order_acquire);
        if (p) return *p;
        auto* fresh = new TeamPool;
        if (current().compare_exchange_strong(p, fresh, std::memory_order_acq_rel)) return *fresh;
        delete fresh;
        return *p;
    }

    // Runs body(t) for t = 0..n-1 (t = 0 on the calling thread) and returns once every part has
    // returned; false, having run nothing, when the pool is busy.  Throws std::runtime_error
    // when the system refuses a helper the team needs (the helpers started by this call are
    // stopped and joined again; nothing has run).
    bool try_run(int n, const std::function<void(int)>& body) {
        // A flag rather than a mutex: the thread that holds it may ask again (a Python callback
        // of thread 0 that predicts), and must get false, not a relock.
        if (busy_.exchange(true, std::memory_order_acquire)) return false;
        struct Release {
            std::atomic<bool>& busy;
            ~Release() { busy.store(false, std::memory_order_release); }
        } release{busy_};
        grow(n);
        body_ = &body;
        remaining_.store(n - 1, std::memory_order_relaxed);
        for (int t = 1; t < n; ++t) publish_change(helpers_[t - 1]->jobs, 1, helpers_[t - 1]->sleeping);
        std::exception_ptr failed;
        try {
            body(0);
        } catch (...) {
            failed = std::current_exception();  // rethrown once the helpers are done with body
        }
        int left;
        while ((left = remaining_.load(std::memory_order_acquire)) != 0)
            wait_for_change(remaining_, left, caller_sleeping_, SpinBarrier::kSpinSeconds);
        body_ = nullptr;
        if (failed) std::rethrow_exception(failed);
        return true;
    }

private:
    struct Helper {
        std::thread thread;
        alignas(64) std::atomic<int> jobs{0};  // bumped once per part handed to it
        std::atomic<int> sleeping{0};
        std::atomic<bool> leave{false};
    };

    static std::atomic<TeamPool*>& current() {
        static std::atomic<TeamPool*> pool{nullptr};
        return pool;
    }

    void serve(Helper& h, int t) {
        for (int seen = 0;; ++seen) {
            wait_for_change(h.jobs, seen, h.sleeping, kIdleSpinSeconds);
            if (h.leave.load(std::memory_order_acquire)) return;
            (*body_)(t);
            if (remaining_.fetch_sub(1, std::memory_order_seq_cst) == 1 &&
                caller_sleeping_.load(std::memory_order_seq_cst) > 0)
                wake_all(remaining_);
        }
    }

    // Starts helpers until there are n - 1 of them (while busy_ is held).
    void grow(int n) {
        const std::size_t had = helpers_.size(), want = static_cast<std::size_t>(n - 1);
        if (had >= want) return;
        helpers_.reserve(want);
        try {
            while (helpers_.size() < want) {
                auto h = std::make_unique<Helper>();
                const int t = static_cast<int>(helpers_.size()) + 1;
                Helper* raw = h.get();
                h->thread = std::thread([this, raw, t] { serve(*raw, t); });
                helpers_.push_back(std::move(h));
            }
        } catch (const std::system_error& e) {
            const std::size_t started = helpers_.size();
            for (std::size_t i = had; i < started; ++i) {
                helpers_[i]->leave.store(true, std::memory_order_release);
                publish_change(helpers_[i]->jobs, 1, helpers_[i]->sleeping);
                helpers_[i]->thread.join();
            }
            helpers_.resize(had);
            throw thread_refused(started, n, e);
        }
        for (std::size_t i = had; i < helpers_.size(); ++i) helpers_[i]->thread.detach();
    }

    std::atomic<bool> busy_{false};
    std::vector<std::unique_ptr<Helper>> helpers_;
    const std::function<void(int)>* body_ = nullptr;
    alignas(64) std::atomic<int> remaining_{0};
    std::atomic<int> caller_sleeping_{0};
};

// The multiply-adds of a forward pass that each further thread of a team must have to save
// more than it costs to wake (a helper parked on a futex takes tens of microseconds to run).
// Calls whose work splits into many batches (train) pay the wake once and decide by their
// blocks instead.
constexpr idx kMinWorkPerThread = 200000;

// Runs body(t) on threads t = 0..T-1 (t = 0 on the calling thread) and returns when all have
// returned: on the process's TeamPool, or, when it is busy, on threads started for this call
// and joined.
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
    if (TeamPool::of_this_process().try_run(n_threads, body)) return;
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
        throw thread_refused(team.size(), n_threads, e);
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
