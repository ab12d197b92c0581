// A minimal fork-join over row ranges for the pre-processing kernels.
//
// Kernels that the encoder's runtime would otherwise leave on one core (image pre-processing runs
// while the inference threads are idle) split their rows over a few short-lived std::threads.
// Threads are created per call: at 10^6-element workloads the ~20-50 us spawn cost is small next
// to the work, and no pool outlives the call (nothing to shut down, fork-safe). Chunks are
// contiguous and disjoint, so results do not depend on the thread count.
#pragma once

#include <algorithm>
#include <cstdint>
#include <system_error>
#include <thread>
#include <vector>

namespace groundlite {

// Threads to use for `n` rows when each thread should get at least `grain` rows; `requested`
// <= 0 means "all hardware threads" (capped at 8: beyond that the spawn cost dominates).
inline int plan_threads(std::int64_t n, std::int64_t grain, int requested) {
    int t = requested;
    if (t <= 0) {
        const unsigned hw = std::thread::hardware_concurrency();
        t = static_cast<int>(std::min(8u, hw == 0 ? 1u : hw));
    }
    const std::int64_t by_work = std::max<std::int64_t>(1, n / std::max<std::int64_t>(1, grain));
    return static_cast<int>(std::max<std::int64_t>(1, std::min<std::int64_t>(t, by_work)));
}

// Calls fn(begin, end) over disjoint chunks covering [0, n) (chunk starts aligned to `align`) on
// up to `threads` threads, the caller's thread included; returns when all chunks are done. If a
// thread cannot be started its chunk runs on the caller's thread. fn must not throw.
template <typename F>
void parallel_rows(std::int64_t n, int threads, std::int64_t align, F&& fn) {
    if (n <= 0) return;
    if (threads <= 1) {
        fn(std::int64_t{0}, n);
        return;
    }
    align = std::max<std::int64_t>(1, align);
    std::int64_t chunk = (n + threads - 1) / threads;
    chunk = (chunk + align - 1) / align * align;
    std::vector<std::thread> pool;
    pool.reserve(static_cast<std::size_t>(threads));
    std::vector<std::pair<std::int64_t, std::int64_t>> inline_chunks;
    for (std::int64_t b = chunk; b < n; b += chunk) {
        const std::int64_t e = std::min(n, b + chunk);
        try {
            pool.emplace_back([&fn, b, e] { fn(b, e); });
        } catch (const std::system_error&) {
            inline_chunks.emplace_back(b, e);
        }
    }
    fn(std::int64_t{0}, std::min(n, chunk));
    for (const auto& c : inline_chunks) fn(c.first, c.second);
    for (auto& t : pool) t.join();
}

}  // namespace groundlite
