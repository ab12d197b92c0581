// Bindings for region_phrase_logits and select_regions (float32).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bind_util.hpp"
#include "groundlite/similarity.hpp"

namespace py = pybind11;
using groundlite::bind::carray;
using groundlite::bind::check_shape;

namespace {

// Non-template float entry point so the loops can be multiversioned (AVX-512 / AVX2+FMA / baseline).
GL_MULTIVERSION void logits_kernel(const float* r, std::int64_t n, const float* q, std::int64_t nq, std::int64_t d,
                                   const float* sh, const float* sc, bool normalize, float* out, float* work) {
    groundlite::region_phrase_logits(r, n, q, nq, d, sh, sc, normalize, out, work);
}

// shift/scale arrive as [N] or [N,1]; both are N contiguous floats.
const float* per_region(const std::optional<carray<float>>& a, const char* name, std::int64_t n) {
    if (!a) return nullptr;
    const auto info = a->request();
    const bool ok = (info.ndim == 1 && info.shape[0] == n) ||
                    (info.ndim == 2 && info.shape[0] == n && info.shape[1] == 1);
    if (!ok) {
        throw py::value_error(std::string(name) + ": expected shape (" + std::to_string(n) + ",) or (" +
                              std::to_string(n) + ", 1) to match region_embeds, got " +
                              groundlite::bind::shape_str(info));
    }
    return a->data();
}

py::array_t<float> region_phrase_logits_f32(const carray<float>& region, const carray<float>& query,
                                            const std::optional<carray<float>>& shift,
                                            const std::optional<carray<float>>& scale, bool normalize) {
    const auto ri = region.request();
    check_shape(ri, "region_embeds", {-1, -1}, "(N, D)");
    const auto n = static_cast<std::int64_t>(ri.shape[0]);
    const auto d = static_cast<std::int64_t>(ri.shape[1]);
    const auto qi = query.request();
    check_shape(qi, "query_embeds", {-1, d}, ("(Q, " + std::to_string(d) + ") to match region_embeds").c_str());
    const auto q = static_cast<std::int64_t>(qi.shape[0]);
    const float* sh = per_region(shift, "logit_shift", n);
    const float* sc = per_region(scale, "logit_scale", n);
    py::array_t<float> out({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(q)});
    float* o = out.mutable_data();
    const float* r = region.data();
    const float* qq = query.data();
    {
        py::gil_scoped_release nogil;
        const std::int64_t qpad = (q + 15) / 16 * 16;
        std::vector<float> work(static_cast<std::size_t>(n + q + d * qpad));
        logits_kernel(r, n, qq, q, d, sh, sc, normalize, o, work.data());
    }
    return out;
}

py::tuple select_regions_f32(const carray<float>& logits, float threshold, std::int64_t top_k,
                             bool apply_sigmoid) {
    const auto li = logits.request();
    check_shape(li, "logits", {-1, -1}, "(N, Q)");
    const auto n = static_cast<std::int64_t>(li.shape[0]);
    const auto q = static_cast<std::int64_t>(li.shape[1]);
    const float* l = logits.data();
    std::vector<std::int64_t> reg;
    std::vector<std::int64_t> qry;
    std::vector<float> sc;
    {
        py::gil_scoped_release nogil;
        groundlite::select_regions(l, n, q, threshold, apply_sigmoid, top_k, reg, qry, sc);
    }
    return py::make_tuple(groundlite::bind::to_int64_array(reg), groundlite::bind::to_int64_array(qry),
                          groundlite::bind::to_float_array(sc));
}

}  // namespace

void register_similarity(py::module_& m) {
    m.def("region_phrase_logits", &region_phrase_logits_f32, py::arg("region_embeds"),
          py::arg("query_embeds"), py::arg("logit_shift"), py::arg("logit_scale"), py::arg("normalize"),
          "OWL-ViT class-head logits float32 [N,Q].");
    m.def("select_regions", &select_regions_f32, py::arg("logits"), py::arg("threshold"),
          py::arg("top_k"), py::arg("apply_sigmoid"),
          "Per-region best query above threshold; top_k < 0 means all.");
}
