// Approximate string matching on code-point sequences: Levenshtein distance, the best approximate
// occurrence of a pattern inside a text and all its non-overlapping occurrences (Sellers'
// semi-global alignment).
#pragma once

#include <algorithm>
#include <cstdint>
#include <iterator>
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

// One column of Sellers' semi-global DP: advances cost/origin (rows 0..np, see best_occurrence)
// from text position j-1 to j (1-based) for text char `c`. Cells carry (cost, start) pairs
// compared lexicographically, which adding a move's cost preserves, so each cell holds the
// lowest cost and, among equal costs, the earliest start: exact, not heuristic.
template <typename Char>
inline void sellers_column(Char c, std::int64_t j, const Char* pat, std::int64_t np, std::int64_t* cost,
                           std::int64_t* origin) {
    std::int64_t diag_cost = cost[0], diag_origin = origin[0];
    cost[0] = 0;  // a fresh alignment starts at every text position (free start)
    origin[0] = j;
    for (std::int64_t i = 1; i <= np; ++i) {
        const std::int64_t up_cost = cost[i], up_origin = origin[i];  // previous column, same row
        // candidates: substitute/match (diag), skip a text char (left, same row previous column),
        // skip a pattern char (previous row, this column)
        std::int64_t cc = diag_cost + (pat[i - 1] == c ? 0 : 1);
        std::int64_t o = diag_origin;
        const std::int64_t c_left = up_cost + 1;
        if (c_left < cc || (c_left == cc && up_origin < o)) {
            cc = c_left;
            o = up_origin;
        }
        const std::int64_t c_up = cost[i - 1] + 1;
        if (c_up < cc || (c_up == cc && origin[i - 1] < o)) {
            cc = c_up;
            o = origin[i - 1];
        }
        cost[i] = cc;
        origin[i] = o;
        diag_cost = up_cost;
        diag_origin = up_origin;
    }
}

// Best approximate occurrence of `pat` (np >= 1) in `text`: the span [start,end) of text minimising
// edit distance to pat; ties go to the earliest start, then the longest span.
template <typename Char>
Occurrence best_occurrence(const Char* text, std::int64_t nt, const Char* pat, std::int64_t np,
                           std::vector<std::int64_t>& cost, std::vector<std::int64_t>& origin) {
    // Column-major over the text: cost[i] = best cost aligning pat[0:i] ending at the current text
    // position; origin[i] = its start.
    cost.resize(static_cast<std::size_t>(np + 1));
    origin.resize(static_cast<std::size_t>(np + 1));
    for (std::int64_t i = 0; i <= np; ++i) {
        cost[i] = i;
        origin[i] = 0;
    }
    Occurrence best{cost[np], 0, 0};
    for (std::int64_t j = 1; j <= nt; ++j) {
        sellers_column(text[j - 1], j, pat, np, cost.data(), origin.data());
        const std::int64_t d = cost[np], s = origin[np];
        // later j with equal (distance, start) is a longer span, so it wins the last tie
        if (d < best.distance || (d == best.distance && s <= best.start)) best = {d, s, j};
    }
    return best;
}

// At most this many occurrences are reported per (text, pattern) pair by all_occurrences.
inline constexpr std::int64_t kMaxOccurrencesPerPair = 256;

struct AllOccurrencesScratch {
    std::vector<std::int64_t> cost, origin;  // DP column
    std::vector<std::int64_t> dist, start;   // per end position 1..nt: best (distance, start)
    std::vector<Occurrence> candidates, chosen;
};

// Every approximate occurrence of `pat` (np >= 1) in `text` with distance <= max_distance,
// appended to `out` sorted by start. Cost O(nt * np) for the DP plus O(nt log nt) for the selection.
//  1. Per end position e in 1..nt: the best span ending at e, (D(e), S(e)) = lowest distance,
//     then earliest start (the DP above). Such spans are never empty.
//  2. Candidates: the local minima of D over e (D(e) <= D(e-1) and D(e) <= D(e+1), a missing
//     neighbour counting as +inf) with D(e) <= max_distance. This removes the shifted copies of
//     one match (a match one char short or long ends next to it at a higher distance).
//  3. Greedy: candidates in order (distance, |span length - np|, start, end) ascending; one is
//     taken unless it overlaps an already taken span (half-open spans, touching is fine), until
//     max_rows are taken (so the kept ones are the best in that order).
template <typename Char>
void all_occurrences(const Char* text, std::int64_t nt, const Char* pat, std::int64_t np, std::int64_t max_distance,
                     std::int64_t max_rows, AllOccurrencesScratch& s, std::vector<Occurrence>& out) {
    if (nt <= 0 || max_rows <= 0) return;
    s.cost.resize(static_cast<std::size_t>(np + 1));
    s.origin.resize(static_cast<std::size_t>(np + 1));
    s.dist.resize(static_cast<std::size_t>(nt + 1));
    s.start.resize(static_cast<std::size_t>(nt + 1));
    for (std::int64_t i = 0; i <= np; ++i) {
        s.cost[i] = i;
        s.origin[i] = 0;
    }
    for (std::int64_t j = 1; j <= nt; ++j) {
        sellers_column(text[j - 1], j, pat, np, s.cost.data(), s.origin.data());
        s.dist[j] = s.cost[np];
        s.start[j] = s.origin[np];
    }
    s.candidates.clear();
    for (std::int64_t e = 1; e <= nt; ++e) {
        const std::int64_t d = s.dist[e];
        if (d > max_distance) continue;
        if (e > 1 && d > s.dist[e - 1]) continue;
        if (e < nt && d > s.dist[e + 1]) continue;
        s.candidates.push_back({d, s.start[e], e});
    }
    const auto off_length = [np](const Occurrence& o) {
        const std::int64_t len = o.end - o.start;
        return len > np ? len - np : np - len;
    };
    std::sort(s.candidates.begin(), s.candidates.end(), [&](const Occurrence& a, const Occurrence& b) {
        if (a.distance != b.distance) return a.distance < b.distance;
        const std::int64_t la = off_length(a), lb = off_length(b);
        if (la != lb) return la < lb;
        if (a.start != b.start) return a.start < b.start;
        return a.end < b.end;
    });
    // chosen: disjoint spans kept sorted by start, so an overlap can only be with the neighbours
    // of the insertion point
    s.chosen.clear();
    for (const Occurrence& c : s.candidates) {
        if (static_cast<std::int64_t>(s.chosen.size()) >= max_rows) break;
        const auto it = std::lower_bound(s.chosen.begin(), s.chosen.end(), c.start,
                                         [](const Occurrence& o, std::int64_t st) { return o.start < st; });
        if (it != s.chosen.end() && it->start < c.end) continue;
        if (it != s.chosen.begin() && std::prev(it)->end > c.start) continue;
        s.chosen.insert(it, c);
    }
    out.insert(out.end(), s.chosen.begin(), s.chosen.end());
}

}  // namespace groundlite
