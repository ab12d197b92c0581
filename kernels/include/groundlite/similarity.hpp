// Region-phrase similarity (OWL-ViT class head) and per-region best-query selection on raw
// pointers. No Python here; see kernels/src/bind_similarity.cpp.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace groundlite {
namespace detail {

// 1 / (||x|| + 1e-6) per row, as transformers' OwlViTClassPredictionHead normalises
// (x / (norm + 1e-6)); the norm accumulates in double so long rows lose nothing.
template <typename T>
void inverse_norms(const T* x, std::int64_t rows, std::int64_t dim, T* out) {
    for (std::int64_t r = 0; r < rows; ++r) {
        const T* v = x + r * dim;
        double acc = 0.0;
        for (std::int64_t d = 0; d < dim; ++d) acc += static_cast<double>(v[d]) * static_cast<double>(v[d]);
        out[r] = static_cast<T>(1.0 / (std::sqrt(acc) + 1e-6));
    }
}

constexpr std::int64_t kRegionBlock = 4;   // regions per register tile
constexpr std::int64_t kQueryBlock = 16;   // queries per register tile (one zmm / two ymm)

// acc[r][q] = sum_d R[r][d] * QT[d][q] for a tile of `rows` (<= kRegionBlock) regions and
// kQueryBlock queries. The innermost loop runs over contiguous queries, so the compiler turns it
// into vector FMAs without reassociating any sum.
template <typename T, std::int64_t Rows>
inline void dot_tile(const T* region, std::int64_t dim, const T* qt, std::int64_t qstride,
                     T (&acc)[kRegionBlock][kQueryBlock]) {
    for (std::int64_t r = 0; r < Rows; ++r)
        for (std::int64_t q = 0; q < kQueryBlock; ++q) acc[r][q] = T(0);
    for (std::int64_t d = 0; d < dim; ++d) {
        const T* qrow = qt + d * qstride;
        for (std::int64_t r = 0; r < Rows; ++r) {
            const T rv = region[r * dim + d];
            for (std::int64_t q = 0; q < kQueryBlock; ++q) acc[r][q] += rv * qrow[q];
        }
    }
}

}  // namespace detail

// logits[n][q] = (dot(R[n], Q[q]) * rinv[n] * qinv[q] + shift[n]) * scale[n], where rinv/qinv are
// 1/(||.||+1e-6) when normalize, else 1. shift/scale may be null (0 and 1). `work` must hold
// n + q + dim * round_up(q, 16) elements.
template <typename T>
void region_phrase_logits(const T* region, std::int64_t n, const T* query, std::int64_t q,
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
    std::fill(qt, qt + dim * qpad, T(0));
    for (std::int64_t j = 0; j < q; ++j)
        for (std::int64_t d = 0; d < dim; ++d) qt[d * qpad + j] = query[j * dim + d];

    T acc[kRegionBlock][kQueryBlock];
    for (std::int64_t r0 = 0; r0 < n; r0 += kRegionBlock) {
        const std::int64_t rows = std::min(kRegionBlock, n - r0);
        for (std::int64_t q0 = 0; q0 < qpad; q0 += kQueryBlock) {
            if (rows == kRegionBlock) {
                detail::dot_tile<T, kRegionBlock>(region + r0 * dim, dim, qt + q0, qpad, acc);
            } else {
                detail::dot_tile<T, 1>(region + r0 * dim, dim, qt + q0, qpad, acc);
                for (std::int64_t r = 1; r < rows; ++r) {
                    T one[kRegionBlock][kQueryBlock];
                    detail::dot_tile<T, 1>(region + (r0 + r) * dim, dim, qt + q0, qpad, one);
                    std::copy(one[0], one[0] + kQueryBlock, acc[r]);
                }
            }
            const std::int64_t cols = std::min(kQueryBlock, q - q0);
            for (std::int64_t r = 0; r < rows; ++r) {
                const std::int64_t i = r0 + r;
                const T sh = shift ? shift[i] : T(0);
                const T sc = scale ? scale[i] : T(1);
                T* o = out + i * q + q0;
                for (std::int64_t c = 0; c < cols; ++c) o[c] = (acc[r][c] * rinv[i] * qinv[q0 + c] + sh) * sc;
            }
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
