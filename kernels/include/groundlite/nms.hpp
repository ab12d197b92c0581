// Non-maximum suppression on raw pointers: greedy NMS (torchvision semantics), per-label NMS and
// Soft-NMS (Bodla et al. 2017). No Python here; see kernels/src/bind_nms.cpp for the bindings.
//
// IoU rule (matches torchvision wherever it is well defined): area = (x2-x1)*(y2-y1); the
// intersection is clamped at 0; when the intersection is 0 the IoU is 0, so zero-area and inverted
// boxes never suppress or get suppressed and are kept/ranked by score. Otherwise
// IoU = inter / ((area_i + area_j) - inter), evaluated in T without fused multiply-add (the
// translation unit that instantiates these is built with -ffp-contract=off, see CMakeLists.txt)
// so that a plain numpy float32 reference gives bit-identical decisions at the threshold.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "groundlite/simd.hpp"

namespace groundlite {
namespace detail {

// Indices of boxes taking part: score not NaN and (when use_threshold) score > score_threshold;
// sorted by descending score, ties by lower index.
template <typename T>
std::vector<std::int64_t> ranked_candidates(const T* scores, std::int64_t n, bool use_threshold,
                                            T score_threshold) {
    std::vector<std::int64_t> order;
    order.reserve(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) {
        const T s = scores[i];
        if (std::isnan(s) || (use_threshold && !(s > score_threshold))) continue;
        order.push_back(i);
    }
    std::sort(order.begin(), order.end(), [scores](std::int64_t a, std::int64_t b) {
        return scores[a] > scores[b] || (scores[a] == scores[b] && a < b);
    });
    return order;
}

// Structure-of-arrays copy of the candidate boxes in rank order, so the inner IoU loop reads four
// contiguous streams and vectorises.
template <typename T>
struct RankedBoxes {
    std::vector<T> x1, y1, x2, y2, area;
    std::vector<std::int64_t> id;

    RankedBoxes(const T* boxes, const std::int64_t* order, std::int64_t m)
        : x1(m), y1(m), x2(m), y2(m), area(m), id(order, order + m) {
        for (std::int64_t k = 0; k < m; ++k) {
            const T* b = boxes + 4 * order[k];
            x1[k] = b[0];
            y1[k] = b[1];
            x2[k] = b[2];
            y2[k] = b[3];
            area[k] = (b[2] - b[0]) * (b[3] - b[1]);
        }
    }
};

template <typename T>
GL_HOT_INLINE T pair_iou(T ax1, T ay1, T ax2, T ay2, T aarea, T bx1, T by1, T bx2, T by2, T barea) {
    const T w = std::max(T(0), std::min(ax2, bx2) - std::max(ax1, bx1));
    const T h = std::max(T(0), std::min(ay2, by2) - std::max(ay1, by1));
    const T inter = w * h;
    if (!(inter > T(0))) return T(0);
    return inter / ((aarea + barea) - inter);
}

// Greedy NMS over boxes already in rank order (`order`, length m). Appends kept ids to `keep`,
// at most max_keep of them.
template <typename T>
GL_HOT_INLINE void greedy_nms_ranked(const T* boxes, const std::int64_t* order, std::int64_t m, T iou_threshold,
                                     std::int64_t max_keep, std::vector<std::int64_t>& keep) {
    if (m <= 0 || max_keep <= 0) return;
    RankedBoxes<T> rb(boxes, order, m);
    T* x1 = rb.x1.data();
    T* y1 = rb.y1.data();
    T* x2 = rb.x2.data();
    T* y2 = rb.y2.data();
    T* area = rb.area.data();
    std::int64_t* id = rb.id.data();
    std::vector<std::uint8_t> suppressed_buf(static_cast<std::size_t>(m), 0);
    std::uint8_t* suppressed = suppressed_buf.data();

    std::int64_t n = m;        // live prefix of the arrays
    std::int64_t dead = 0;     // suppressed entries still inside the live prefix
    std::int64_t kept = 0;
    std::int64_t i = 0;
    while (i < n) {
        if (suppressed[i]) {
            ++i;
            continue;
        }
        keep.push_back(id[i]);
        if (++kept >= max_keep) return;
        const T bx1 = x1[i], by1 = y1[i], bx2 = x2[i], by2 = y2[i], barea = area[i];
        // Branch-free over every later box (already-suppressed ones included): this vectorises,
        // and suppressed entries are compacted away below once they are a sizeable fraction.
        std::int64_t newly = 0;
        for (std::int64_t j = i + 1; j < n; ++j) {
            const T w = std::max(T(0), std::min(bx2, x2[j]) - std::max(bx1, x1[j]));
            const T h = std::max(T(0), std::min(by2, y2[j]) - std::max(by1, y1[j]));
            const T inter = w * h;
            const T iou = inter / ((barea + area[j]) - inter);
            const std::uint8_t s = static_cast<std::uint8_t>((inter > T(0)) & (iou > iou_threshold));
            newly += s & static_cast<std::uint8_t>(suppressed[j] ^ 1u);
            suppressed[j] = static_cast<std::uint8_t>(suppressed[j] | s);
        }
        dead += newly;
        ++i;
        // Compact the tail when at least a quarter of it is dead: amortised O(live) per keep.
        if (dead * 4 > (n - i) && n - i > 64) {
            std::int64_t w = i;
            for (std::int64_t j = i; j < n; ++j) {
                if (suppressed[j]) continue;
                x1[w] = x1[j];
                y1[w] = y1[j];
                x2[w] = x2[j];
                y2[w] = y2[j];
                area[w] = area[j];
                id[w] = id[j];
                suppressed[w] = 0;
                ++w;
            }
            n = w;
            dead = 0;
        }
    }
}

}  // namespace detail

// Greedy NMS. boxes: [n,4] xyxy, scores: [n]. Returns kept indices by descending score (ties: lower
// index). A box is suppressed by a kept box when IoU > iou_threshold (strictly).
template <typename T>
GL_HOT_INLINE std::vector<std::int64_t> nms(const T* boxes, const T* scores, std::int64_t n, T iou_threshold,
                              bool use_score_threshold, T score_threshold, std::int64_t max_keep) {
    std::vector<std::int64_t> keep;
    const auto order = detail::ranked_candidates(scores, n, use_score_threshold, score_threshold);
    detail::greedy_nms_ranked(boxes, order.data(), static_cast<std::int64_t>(order.size()),
                              iou_threshold, max_keep, keep);
    return keep;
}

// NMS independently per label (no suppression across labels); result ranked like nms().
template <typename T>
GL_HOT_INLINE std::vector<std::int64_t> batched_nms(const T* boxes, const T* scores, const std::int64_t* labels,
                                      std::int64_t n, T iou_threshold, bool use_score_threshold,
                                      T score_threshold, std::int64_t max_keep) {
    auto order = detail::ranked_candidates(scores, n, use_score_threshold, score_threshold);
    // Stable: inside each label the rank order survives.
    std::stable_sort(order.begin(), order.end(),
                     [labels](std::int64_t a, std::int64_t b) { return labels[a] < labels[b]; });
    std::vector<std::int64_t> keep;
    std::size_t begin = 0;
    while (begin < order.size()) {
        std::size_t end = begin + 1;
        while (end < order.size() && labels[order[end]] == labels[order[begin]]) ++end;
        detail::greedy_nms_ranked(boxes, order.data() + begin, static_cast<std::int64_t>(end - begin),
                                  iou_threshold, max_keep, keep);
        begin = end;
    }
    std::sort(keep.begin(), keep.end(), [scores](std::int64_t a, std::int64_t b) {
        return scores[a] > scores[b] || (scores[a] == scores[b] && a < b);
    });
    if (static_cast<std::int64_t>(keep.size()) > max_keep) keep.resize(static_cast<std::size_t>(max_keep));
    return keep;
}

enum class SoftNmsMethod { linear, gaussian };

// Soft-NMS. Repeatedly selects the live box with the highest current score (ties: lower index),
// then decays every other live box j: linear: s_j *= 1 - IoU if IoU > iou_threshold; gaussian:
// s_j *= exp(-IoU^2 / sigma). Boxes whose score is NaN or < score_threshold (initially or after a
// decay) are dropped. The gaussian factor is evaluated in double. Outputs (index, score at selection) in selection order.
template <typename T>
GL_HOT_INLINE void soft_nms(const T* boxes, const T* scores, std::int64_t n, T iou_threshold, T sigma,
              SoftNmsMethod method, T score_threshold, std::vector<std::int64_t>& keep,
              std::vector<T>& kept_scores) {
    std::vector<std::int64_t> live;
    live.reserve(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) {
        if (!std::isnan(scores[i]) && !(scores[i] < score_threshold)) live.push_back(i);
    }
    const std::int64_t m = static_cast<std::int64_t>(live.size());
    detail::RankedBoxes<T> rb(boxes, live.data(), m);  // index order; ids stay ascending
    std::vector<T> s(static_cast<std::size_t>(m));
    for (std::int64_t k = 0; k < m; ++k) s[k] = scores[live[k]];

    std::int64_t count = m;
    while (count > 0) {
        // ids are ascending inside the live prefix, so the first maximum has the lowest index.
        std::int64_t best = 0;
        for (std::int64_t k = 1; k < count; ++k) {
            if (s[k] > s[best]) best = k;
        }
        keep.push_back(rb.id[best]);
        kept_scores.push_back(s[best]);
        const T bx1 = rb.x1[best], by1 = rb.y1[best], bx2 = rb.x2[best], by2 = rb.y2[best];
        const T barea = rb.area[best];
        std::int64_t w = 0;
        for (std::int64_t k = 0; k < count; ++k) {
            if (k == best) continue;
            const T iou = detail::pair_iou(bx1, by1, bx2, by2, barea, rb.x1[k], rb.y1[k], rb.x2[k],
                                           rb.y2[k], rb.area[k]);
            T sk = s[k];
            if (method == SoftNmsMethod::linear) {
                if (iou > iou_threshold) sk *= T(1) - iou;
            } else {
                // double keeps the decay reproducible by a numpy float64 reference
                const double d = static_cast<double>(iou);
                sk = static_cast<T>(static_cast<double>(sk) * std::exp(-(d * d) / static_cast<double>(sigma)));
            }
            if (!(sk >= score_threshold)) continue;  // a NaN score is dropped too
            rb.x1[w] = rb.x1[k];
            rb.y1[w] = rb.y1[k];
            rb.x2[w] = rb.x2[k];
            rb.y2[w] = rb.y2[k];
            rb.area[w] = rb.area[k];
            rb.id[w] = rb.id[k];
            s[w] = sk;
            ++w;
        }
        count = w;
    }
}

}  // namespace groundlite
