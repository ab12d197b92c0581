// Region-phrase similarity (OWL-ViT class head) and per-region best-query selection on raw
// pointers. No Python here; see kernels/src/bind_similarity.cpp.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "groundlite/simd.hpp"

namespace groundlite {
namespace detail {

constexpr std::int64_t kRegionBlock = 8;   // regions per register tile
constexpr std::int64_t kQueryBlock = 16;   // queries per register tile (one zmm / two ymm)

// out[r][q] = sum_d R[r][d] * QT[d][q] for a tile of Rows (<= kRegionBlock) regions and
// kQueryBlock queries. The innermost loop runs over contiguous queries, so the compiler turns it
// into vector multiply-adds without reassociating any sum; the accumulators are a local array so
// they stay in registers (no aliasing with the inputs).
template <typename T, std::int64_t Rows>
GL_HOT_INLINE void dot_tile(const T* GL_RESTRICT region, std::int64_t dim, const T* GL_RESTRICT qt, std::int64_t qstride,
                            T* GL_RESTRICT out) {
    // Queries innermost and rows unrolled inside that loop: Rows independent vector accumulator
    // chains per step hide the multiply-add latency (a loop over rows outside would be
    // interchanged by the compiler into a single dependent chain).
    T acc[Rows][kQueryBlock] = {};
    for (std::int64_t d = 0; d < dim; ++d) {
        const T* qrow = qt + d * qstride;
        T rv[Rows];
        for (std::int64_t r = 0; r < Rows; ++r) rv[r] = region[r * dim + d];
        for (std::int64_t q = 0; q < kQueryBlock; ++q) {
            const T qv = qrow[q];
            for (std::int64_t r = 0; r < Rows; ++r) acc[r][q] += rv[r] * qv;
        }
    }
    for (std::int64_t r = 0; r < Rows; ++r)
        for (std::int64_t q = 0; q < kQueryBlock; ++q) out[r * kQueryBlock + q] = acc[r][q];
}

// Dot product with kLanes independent partial sums: vectorises without -ffast-math because each
// lane is its own sum; used when there are too few queries to fill a query tile.
constexpr std::int64_t kLanes = 16;

template <typename T>
GL_HOT_INLINE T lane_dot(const T* GL_RESTRICT a, const T* GL_RESTRICT b, std::int64_t dim) {
    T acc[kLanes] = {};
    std::int64_t d = 0;
    for (; d + kLanes <= dim; d += kLanes)
        for (std::int64_t k = 0; k < kLanes; ++k) acc[k] += a[d + k] * b[d + k];
    T tail = T(0);
    for (; d < dim; ++d) tail += a[d] * b[d];
    for (std::int64_t k = 0; k < kLanes; ++k) tail += acc[k];
    return tail;
}

// 1 / (||x|| + 1e-6) per row, as transformers' OwlViTClassPredictionHead normalises
// (x / (norm + 1e-6)); the squared norm uses the same lane-parallel float sum as the dot products.
template <typename T>
GL_HOT_INLINE void inverse_norms(const T* x, std::int64_t rows, std::int64_t dim, T* out) {
    for (std::int64_t r = 0; r < rows; ++r) {
        const T* v = x + r * dim;
        out[r] = static_cast<T>(1.0 / (std::sqrt(static_cast<double>(lane_dot(v, v, dim))) + 1e-6));
    }
}

}  // namespace detail

// logits[n][q] = (dot(R[n], Q[q]) * rinv[n] * qinv[q] + shift[n]) * scale[n], where rinv/qinv are
// 1/(||.||+1e-6) when normalize, else 1. shift/scale may be null (0 and 1). `work` must hold
// n + q + dim * round_up(q, 16) elements.
template <typename T>
GL_HOT_INLINE void region_phrase_logits(const T* region, std::int64_t n, const T* query, std::int64_t q,
                                        std::int64_t dim, const T* shift, const T* scale, bool normalize, T* out,
                                        T* work) {
    using detail::kQueryBlock;
    using detail::kRegionBlock;
    const std::int64_t qpad = (q + kQueryBlock - 1) / kQueryBlock * kQueryBlock;
    T* rinv = work;
    T* qinv = work + n;
    T* qt = work + n + q;  // [dim][qpad] transposed queries, zero padded
    if (normalize) {
        detail::inverse_norms(region, n, dim, rinv);
        detail::inverse_norms(query, q, dim, qinv);
    } else {
        std::fill(rinv, rinv + n, T(1));
        std::fill(qinv, qinv + q, T(1));
    }
    const auto finish = [&](std::int64_t i, std::int64_t j, T dot) {
        const T sh = shift ? shift[i] : T(0);
        const T sc = scale ? scale[i] : T(1);
        out[i * q + j] = (dot * rinv[i] * qinv[j] + sh) * sc;
    };
    if (q < kQueryBlock / 2) {
        // Few queries: a padded query tile would be mostly zeros; use lane dot products.
        for (std::int64_t i = 0; i < n; ++i)
            for (std::int64_t j = 0; j < q; ++j) finish(i, j, detail::lane_dot(region + i * dim, query + j * dim, dim));
        return;
    }
    std::fill(qt, qt + dim * qpad, T(0));
    for (std::int64_t j = 0; j < q; ++j)
        for (std::int64_t d = 0; d < dim; ++d) qt[d * qpad + j] = query[j * dim + d];
    T acc[kRegionBlock * kQueryBlock];
    for (std::int64_t r0 = 0; r0 < n; r0 += kRegionBlock) {
        const std::int64_t rows = std::min(kRegionBlock, n - r0);
        for (std::int64_t q0 = 0; q0 < qpad; q0 += kQueryBlock) {
            if (rows == kRegionBlock) {
                detail::dot_tile<T, kRegionBlock>(region + r0 * dim, dim, qt + q0, qpad, acc);
            } else {
                for (std::int64_t r = 0; r < rows; ++r)
                    detail::dot_tile<T, 1>(region + (r0 + r) * dim, dim, qt + q0, qpad, acc + r * kQueryBlock);
            }
            const std::int64_t cols = std::min(kQueryBlock, q - q0);
            for (std::int64_t r = 0; r < rows; ++r)
                for (std::int64_t c = 0; c < cols; ++c) finish(r0 + r, q0 + c, acc[r * kQueryBlock + c]);
        }
    }
}

// Per region the best query (first maximum; NaN never wins, an all-NaN row is dropped); the region
// is kept when its score > threshold, where score = sigmoid(best logit) if apply_sigmoid (evaluated
// in double, then rounded to T) else the logit. Only n sigmoids are computed, never n*q.
// Results sorted by descending score (ties: lower region index) and truncated to top_k.
template <typename T>
void select_regions(const T* logits, std::int64_t n, std::int64_t q, T threshold, bool apply_sigmoid,
                    std::int64_t top_k, std::vector<std::int64_t>& region_idx,
                    std::vector<std::int64_t>& query_idx, std::vector<T>& out_scores) {
    std::vector<std::int64_t> reg;
    std::vector<std::int64_t> qry;
    std::vector<T> sc;
    for (std::int64_t i = 0; i < n; ++i) {
        const T* row = logits + i * q;
        std::int64_t best = -1;
        T bv = T(0);
        for (std::int64_t j = 0; j < q; ++j) {
            const T v = row[j];
            if (v == v && (best < 0 || v > bv)) {
                best = j;
                bv = v;
            }
        }
        if (best < 0) continue;
        const T s = apply_sigmoid ? static_cast<T>(1.0 / (1.0 + std::exp(-static_cast<double>(bv)))) : bv;
        if (!(s > threshold)) continue;
        reg.push_back(i);
        qry.push_back(best);
        sc.push_back(s);
    }
    std::vector<std::size_t> order(reg.size());
    for (std::size_t k = 0; k < order.size(); ++k) order[k] = k;
    // reg is ascending, so ordering by (score desc, position) breaks ties by lower region index.
    std::stable_sort(order.begin(), order.end(), [&sc](std::size_t a, std::size_t b) { return sc[a] > sc[b]; });
    const std::size_t k = top_k < 0 ? order.size() : std::min(order.size(), static_cast<std::size_t>(top_k));
    region_idx.resize(k);
    query_idx.resize(k);
    out_scores.resize(k);
    for (std::size_t t = 0; t < k; ++t) {
        region_idx[t] = reg[order[t]];
        query_idx[t] = qry[order[t]];
        out_scores[t] = sc[order[t]];
    }
}

}  // namespace groundlite
