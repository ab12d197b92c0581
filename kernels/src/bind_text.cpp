// Bindings for the text-model kernels: greedy CTC decoding and fuzzy phrase matching (best and all
// occurrences). Strings are converted to UTF-32 (one element per code point) by pybind11 while the
// GIL is held.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "bind_util.hpp"
#include "groundlite/ctc.hpp"
#include "groundlite/fuzzy.hpp"

namespace py = pybind11;
using groundlite::bind::carray;
using groundlite::bind::check_shape;
using groundlite::bind::to_int64_array;

namespace {

py::tuple ctc_greedy_decode_f32(const carray<float>& probs, std::int64_t blank) {
    const auto info = probs.request();
    check_shape(info, "probs", {-1, -1, -1}, "(B, T, C)");
    const auto b = static_cast<std::int64_t>(info.shape[0]);
    const auto t = static_cast<std::int64_t>(info.shape[1]);
    const auto c = static_cast<std::int64_t>(info.shape[2]);
    if (blank < 0 || blank >= c) {
        throw py::value_error("blank: expected a class id in [0, " + std::to_string(c) + "), got " +
                              std::to_string(blank));
    }
    const float* p = probs.data();
    groundlite::CtcChars chars;
    {
        py::gil_scoped_release nogil;
        groundlite::ctc_greedy_decode(p, b, t, c, blank, chars);
    }
    return py::make_tuple(to_int64_array(chars.labels), groundlite::bind::to_float_array(chars.scores),
                          to_int64_array(chars.start), to_int64_array(chars.end),
                          to_int64_array(chars.offsets));
}

py::tuple fuzzy_find_u32(const std::vector<std::u32string>& texts, const std::vector<std::u32string>& phrases) {
    for (std::size_t k = 0; k < phrases.size(); ++k) {
        if (phrases[k].empty()) {
            throw py::value_error("phrases: expected non-empty strings, got an empty string at index " +
                                  std::to_string(k));
        }
    }
    const auto r = static_cast<py::ssize_t>(texts.size());
    const auto p = static_cast<py::ssize_t>(phrases.size());
    py::array_t<float> sim({r, p});
    py::array_t<std::int64_t> start({r, p});
    py::array_t<std::int64_t> end({r, p});
    float* s = sim.mutable_data();
    std::int64_t* st = start.mutable_data();
    std::int64_t* en = end.mutable_data();
    {
        py::gil_scoped_release nogil;
        std::vector<std::int64_t> cost, origin;
        for (py::ssize_t i = 0; i < r; ++i) {
            const auto& text = texts[static_cast<std::size_t>(i)];
            for (py::ssize_t j = 0; j < p; ++j) {
                const auto& pat = phrases[static_cast<std::size_t>(j)];
                const auto np = static_cast<std::int64_t>(pat.size());
                const auto occ = groundlite::best_occurrence(text.data(), static_cast<std::int64_t>(text.size()),
                                                             pat.data(), np, cost, origin);
                const double similarity = 1.0 - static_cast<double>(occ.distance) / static_cast<double>(np);
                s[i * p + j] = static_cast<float>(std::max(0.0, similarity));
                st[i * p + j] = occ.start;
                en[i * p + j] = occ.end;
            }
        }
    }
    return py::make_tuple(sim, start, end);
}

py::tuple fuzzy_find_all_u32(const std::vector<std::u32string>& texts, const std::vector<std::u32string>& phrases,
                             const carray<std::int64_t>& max_distance) {
    for (std::size_t k = 0; k < phrases.size(); ++k) {
        if (phrases[k].empty()) {
            throw py::value_error("phrases: expected non-empty strings, got an empty string at index " +
                                  std::to_string(k));
        }
    }
    const auto info = max_distance.request();
    const auto p = static_cast<py::ssize_t>(phrases.size());
    if (info.ndim != 1 || info.shape[0] != p) {
        throw py::value_error("max_distance: expected shape (" + std::to_string(p) + ",), one per phrase, got " +
                              groundlite::bind::shape_str(info));
    }
    const std::int64_t* md = max_distance.data();
    for (py::ssize_t k = 0; k < p; ++k) {
        if (md[k] < 0) {
            throw py::value_error("max_distance: expected edit counts >= 0, got " + std::to_string(md[k]) +
                                  " at index " + std::to_string(k));
        }
    }
    std::vector<std::int64_t> region, phrase, distance, start, end;
    {
        py::gil_scoped_release nogil;
        groundlite::AllOccurrencesScratch scratch;
        std::vector<groundlite::Occurrence> found;
        for (std::size_t i = 0; i < texts.size(); ++i) {
            const auto& text = texts[i];
            for (py::ssize_t j = 0; j < p; ++j) {
                const auto& pat = phrases[static_cast<std::size_t>(j)];
                found.clear();
                groundlite::all_occurrences(text.data(), static_cast<std::int64_t>(text.size()), pat.data(),
                                            static_cast<std::int64_t>(pat.size()), md[j],
                                            groundlite::kMaxOccurrencesPerPair, scratch, found);
                for (const auto& o : found) {
                    region.push_back(static_cast<std::int64_t>(i));
                    phrase.push_back(static_cast<std::int64_t>(j));
                    distance.push_back(o.distance);
                    start.push_back(o.start);
                    end.push_back(o.end);
                }
            }
        }
    }
    return py::make_tuple(to_int64_array(region), to_int64_array(phrase), to_int64_array(distance),
                          to_int64_array(start), to_int64_array(end));
}

py::array_t<float> edit_similarity_u32(const std::vector<std::u32string>& a, const std::vector<std::u32string>& b) {
    const auto na = static_cast<py::ssize_t>(a.size());
    const auto nb = static_cast<py::ssize_t>(b.size());
    py::array_t<float> out({na, nb});
    float* o = out.mutable_data();
    {
        py::gil_scoped_release nogil;
        std::vector<std::int64_t> row;
        for (py::ssize_t i = 0; i < na; ++i) {
            const auto& x = a[static_cast<std::size_t>(i)];
            for (py::ssize_t j = 0; j < nb; ++j) {
                const auto& y = b[static_cast<std::size_t>(j)];
                const std::size_t longest = std::max(x.size(), y.size());
                if (longest == 0) {
                    o[i * nb + j] = 1.0f;
                    continue;
                }
                const auto d = groundlite::levenshtein(x.data(), static_cast<std::int64_t>(x.size()), y.data(),
                                                       static_cast<std::int64_t>(y.size()), row);
                o[i * nb + j] = static_cast<float>(1.0 - static_cast<double>(d) / static_cast<double>(longest));
            }
        }
    }
    return out;
}

}  // namespace

void register_text(py::module_& m) {
    m.def("ctc_greedy_decode", &ctc_greedy_decode_f32, py::arg("probs"), py::arg("blank"),
          "Greedy CTC decode of float32 [B,T,C]; returns (labels, scores, start, end, offsets).");
    m.def("fuzzy_find", &fuzzy_find_u32, py::arg("texts"), py::arg("phrases"),
          "Best approximate occurrence of each phrase in each text: (similarity, start, end) [R,P].");
    m.def("fuzzy_find_all", &fuzzy_find_all_u32, py::arg("texts"), py::arg("phrases"), py::arg("max_distance"),
          "Every non-overlapping approximate occurrence: flat (region, phrase, distance, start, end) int64.");
    m.attr("FUZZY_FIND_ALL_MAX_PER_PAIR") = groundlite::kMaxOccurrencesPerPair;
    m.def("edit_similarity", &edit_similarity_u32, py::arg("a"), py::arg("b"),
          "1 - levenshtein / max(len) for every pair, float32 [len(a), len(b)].");
}
