// Approximate string matching on code-point sequences: Levenshtein distance and the best
// approximate occurrence of a pattern inside a text (Sellers' semi-global alignment).
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace groundlite {

// Plain Levenshtein distance (unit insert / delete / substitute), two-row DP.
template <typename Char>
std::int64_t levenshtein(const Char* a, std::int64_t na, const Char* b, std::int64_t nb,
                         std::vector<std::int64_t>& row) {
    row.resize(static_cast<std::size_t>(nb + 1));
    for (std::int64_t j = 0; j <= nb; ++j) row[j] = j;
    for (std::int64_t i = 1; i <= na; ++i) {
        std::int64_t diag = row[0];
        row[0] = i;
        for (std::int64_t j = 1; j <= nb; ++j) {
            const std::int64_t up = row[j];
            const std::int64_t sub = diag + (a[i - 1] == b[j - 1] ? 0 : 1);
            row[j] = std::min({sub, up + 1, row[j - 1] + 1});
            diag = up;
        }
    }
    return row[nb];
}

struct Occurrence {
    std::int64_t distance, start, end;
};

// Best approximate occurrence of `pat` (np >= 1) in `text`: the span [start,end) of text minimising
// edit distance to pat; ties go to the earliest start, then the longest span. DP cells carry
// (cost, start) pairs compared lexicographically, which adding a move's cost preserves, so the
// choice is exact, not heuristic.
template <typename Char>
Occurrence best_occurrence(const Char* text, std::int64_t nt, const Char* pat, std::int64_t np,
                           std::vector<std::int64_t>& cost, std::vector<std::int64_t>& origin) {
    // Column-major over the text: cost[i] = best cost aligning pat[0:i] ending at the current text
    // position; origin[i] = its start. A fresh column starts at every text position (free start).
    cost.resize(static_cast<std::size_t>(np + 1));
    origin.resize(static_cast<std::size_t>(np + 1));
    for (std::int64_t i = 0; i <= np; ++i) {
        cost[i] = i;
        origin[i] = 0;
    }
    Occurrence best{cost[np], 0, 0};
    for (std::int64_t j = 1; j <= nt; ++j) {
        std::int64_t diag_cost = cost[0], diag_origin = origin[0];
        cost[0] = 0;
        origin[0] = j;
        for (std::int64_t i = 1; i <= np; ++i) {
            const std::int64_t up_cost = cost[i], up_origin = origin[i];  // previous column, same row
            // candidates: substitute/match (diag), skip a text char (left, same row previous column),
            // skip a pattern char (previous row, this column)
            std::int64_t c = diag_cost + (pat[i - 1] == text[j - 1] ? 0 : 1);
            std::int64_t o = diag_origin;
            const std::int64_t c_left = up_cost + 1;
            if (c_left < c || (c_left == c && up_origin < o)) {
                c = c_left;
                o = up_origin;
            }
            const std::int64_t c_up = cost[i - 1] + 1;
            if (c_up < c || (c_up == c && origin[i - 1] < o)) {
                c = c_up;
                o = origin[i - 1];
            }
            cost[i] = c;
            origin[i] = o;
            diag_cost = up_cost;
            diag_origin = up_origin;
        }
        const std::int64_t d = cost[np], s = origin[np];
        // later j with equal (distance, start) is a longer span, so it wins the last tie
        if (d < best.distance || (d == best.distance && s <= best.start)) best = {d, s, j};
    }
    return best;
}

}  // namespace groundlite
