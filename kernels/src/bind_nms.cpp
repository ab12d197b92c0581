// Bindings for nms, batched_nms and soft_nms (float32). Validation happens here with the GIL held;
// the compute runs on raw pointers with the GIL released.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "bind_util.hpp"
#include "groundlite/nms.hpp"

namespace py = pybind11;
using groundlite::bind::carray;
using groundlite::bind::check_shape;

namespace {

std::int64_t check_boxes_scores(const py::buffer_info& b, const py::buffer_info& s) {
    check_shape(b, "boxes", {-1, 4}, "(N, 4)");
    const auto n = static_cast<std::int64_t>(b.shape[0]);
    check_shape(s, "scores", {n}, ("(" + std::to_string(n) + ",) to match boxes").c_str());
    return n;
}

// Non-template float entry points so the loops can be multiversioned (AVX-512 / AVX2 / baseline).
GL_MULTIVERSION std::vector<std::int64_t> nms_kernel(const float* b, const float* s, std::int64_t n, float iou,
                                                     bool use_thr, float thr, std::int64_t max_keep) {
    return groundlite::nms(b, s, n, iou, use_thr, thr, max_keep);
}

GL_MULTIVERSION std::vector<std::int64_t> batched_nms_kernel(const float* b, const float* s, const std::int64_t* l,
                                                             std::int64_t n, float iou, bool use_thr, float thr,
                                                             std::int64_t max_keep) {
    return groundlite::batched_nms(b, s, l, n, iou, use_thr, thr, max_keep);
}

std::int64_t max_keep_of(std::int64_t max_detections) {
    return max_detections < 0 ? std::numeric_limits<std::int64_t>::max() : max_detections;
}

py::array_t<std::int64_t> nms_f32(const carray<float>& boxes, const carray<float>& scores,
                                  float iou_threshold, bool use_score_threshold, float score_threshold,
                                  std::int64_t max_detections) {
    const auto n = check_boxes_scores(boxes.request(), scores.request());
    const float* b = boxes.data();
    const float* s = scores.data();
    std::vector<std::int64_t> keep;
    {
        py::gil_scoped_release nogil;
        keep = nms_kernel(b, s, n, iou_threshold, use_score_threshold, score_threshold, max_keep_of(max_detections));
    }
    return groundlite::bind::to_int64_array(keep);
}

py::array_t<std::int64_t> batched_nms_f32(const carray<float>& boxes, const carray<float>& scores,
                                          const carray<std::int64_t>& labels, float iou_threshold,
                                          bool use_score_threshold, float score_threshold,
                                          std::int64_t max_detections) {
    const auto n = check_boxes_scores(boxes.request(), scores.request());
    check_shape(labels.request(), "labels", {n}, ("(" + std::to_string(n) + ",) to match boxes").c_str());
    const float* b = boxes.data();
    const float* s = scores.data();
    const std::int64_t* l = labels.data();
    std::vector<std::int64_t> keep;
    {
        py::gil_scoped_release nogil;
        keep = batched_nms_kernel(b, s, l, n, iou_threshold, use_score_threshold, score_threshold,
                                  max_keep_of(max_detections));
    }
    return groundlite::bind::to_int64_array(keep);
}

py::tuple soft_nms_f32(const carray<float>& boxes, const carray<float>& scores, float iou_threshold,
                       float sigma, const std::string& method, float score_threshold) {
    const auto n = check_boxes_scores(boxes.request(), scores.request());
    groundlite::SoftNmsMethod m;
    if (method == "linear") {
        m = groundlite::SoftNmsMethod::linear;
    } else if (method == "gaussian") {
        m = groundlite::SoftNmsMethod::gaussian;
    } else {
        throw py::value_error("method: expected 'gaussian' or 'linear', got '" + method + "'");
    }
    const float* b = boxes.data();
    const float* s = scores.data();
    std::vector<std::int64_t> keep;
    std::vector<float> kept_scores;
    {
        py::gil_scoped_release nogil;
        groundlite::soft_nms(b, s, n, iou_threshold, sigma, m, score_threshold, keep, kept_scores);
    }
    return py::make_tuple(groundlite::bind::to_int64_array(keep),
                          groundlite::bind::to_float_array(kept_scores));
}

}  // namespace

void register_nms(py::module_& m) {
    m.def("nms", &nms_f32, py::arg("boxes"), py::arg("scores"), py::arg("iou_threshold"),
          py::arg("use_score_threshold"), py::arg("score_threshold"), py::arg("max_detections"),
          "Greedy NMS on float32 boxes [N,4] xyxy; max_detections < 0 means unlimited.");
    m.def("batched_nms", &batched_nms_f32, py::arg("boxes"), py::arg("scores"), py::arg("labels"),
          py::arg("iou_threshold"), py::arg("use_score_threshold"), py::arg("score_threshold"),
          py::arg("max_detections"), "Per-label greedy NMS; max_detections < 0 means unlimited.");
    m.def("soft_nms", &soft_nms_f32, py::arg("boxes"), py::arg("scores"), py::arg("iou_threshold"),
          py::arg("sigma"), py::arg("method"), py::arg("score_threshold"),
          "Soft-NMS; returns (indices int64[K], scores float32[K]) in selection order.");
}
