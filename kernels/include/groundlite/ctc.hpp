// Greedy CTC decoding on raw pointers.
#pragma once

#include <cstdint>
#include <vector>

namespace groundlite {

struct CtcChars {
    std::vector<std::int64_t> labels, start, end, offsets;
    std::vector<float> scores;
};

// probs: [b,t,c] per-step class probabilities. Per step the argmax class (first maximum; NaN never
// wins; an all-NaN step counts as blank); consecutive equal classes form a run; each run of a
// non-blank class emits one char with score = mean argmax probability over the run and the
// half-open step range [start, end). offsets[k]..offsets[k+1] are sequence k's chars.
template <typename T>
void ctc_greedy_decode(const T* probs, std::int64_t b, std::int64_t t, std::int64_t c, std::int64_t blank,
                       CtcChars& out) {
    out.offsets.assign(1, 0);
    for (std::int64_t s = 0; s < b; ++s) {
        std::int64_t run_class = -1;
        std::int64_t run_start = 0;
        double run_sum = 0.0;
        auto close_run = [&](std::int64_t end_step) {
            if (run_class >= 0 && run_class != blank) {
                out.labels.push_back(run_class);
                out.scores.push_back(static_cast<float>(run_sum / static_cast<double>(end_step - run_start)));
                out.start.push_back(run_start);
                out.end.push_back(end_step);
            }
        };
        for (std::int64_t step = 0; step < t; ++step) {
            const T* p = probs + (s * t + step) * c;
            std::int64_t k = -1;
            T best = T(0);
            for (std::int64_t j = 0; j < c; ++j) {
                const T v = p[j];
                if (v == v && (k < 0 || v > best)) {
                    k = j;
                    best = v;
                }
            }
            double value = static_cast<double>(best);
            if (k < 0) {
                k = blank;
                value = 0.0;
            }
            if (k != run_class) {
                close_run(step);
                run_class = k;
                run_start = step;
                run_sum = 0.0;
            }
            run_sum += value;
        }
        close_run(t);
        out.offsets.push_back(static_cast<std::int64_t>(out.labels.size()));
    }
}

}  // namespace groundlite
