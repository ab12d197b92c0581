// Bindings for the box coordinate transforms (float32).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <vector>

#include "bind_util.hpp"
#include "groundlite/boxes.hpp"

namespace py = pybind11;
using groundlite::bind::carray;
using groundlite::bind::check_shape;

namespace {

py::array_t<float> cxcywh_to_xyxy_f32(const carray<float>& boxes, float width, float height, bool clip) {
    const auto info = boxes.request();
    check_shape(info, "boxes", {-1, 4}, "(N, 4)");
    const auto n = static_cast<std::int64_t>(info.shape[0]);
    py::array_t<float> out({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(4)});
    float* o = out.mutable_data();
    const float* b = boxes.data();
    {
        py::gil_scoped_release nogil;
        groundlite::cxcywh_to_xyxy(b, n, width, height, clip, o);
    }
    return out;
}

py::array_t<float> affine_boxes_f32(const carray<float>& boxes, float sx, float sy, float ox, float oy,
                                    bool clip, float clip_w, float clip_h) {
    const auto info = boxes.request();
    check_shape(info, "boxes_xyxy", {-1, 4}, "(N, 4)");
    const auto n = static_cast<std::int64_t>(info.shape[0]);
    py::array_t<float> out({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(4)});
    float* o = out.mutable_data();
    const float* b = boxes.data();
    {
        py::gil_scoped_release nogil;
        groundlite::affine_boxes(b, n, sx, sy, ox, oy, clip, clip_w, clip_h, o);
    }
    return out;
}

// affine_boxes plus the indices of the boxes that are real boxes in the clip frame (boxes_in_frame,
// decided on the mapped boxes before clipping).
py::tuple affine_boxes_keep_f32(const carray<float>& boxes, float sx, float sy, float ox, float oy, bool clip,
                                float clip_w, float clip_h) {
    const auto info = boxes.request();
    check_shape(info, "boxes_xyxy", {-1, 4}, "(N, 4)");
    const auto n = static_cast<std::int64_t>(info.shape[0]);
    py::array_t<float> out({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(4)});
    float* o = out.mutable_data();
    const float* b = boxes.data();
    std::vector<std::int64_t> keep;
    {
        py::gil_scoped_release nogil;
        groundlite::affine_boxes(b, n, sx, sy, ox, oy, false, clip_w, clip_h, o);
        groundlite::boxes_in_frame(o, n, clip_w, clip_h, keep);
        if (clip) groundlite::clip_boxes(o, n, clip_w, clip_h);
    }
    return py::make_tuple(out, groundlite::bind::to_int64_array(keep));
}

}  // namespace

void register_boxes(py::module_& m) {
    m.def("cxcywh_to_xyxy", &cxcywh_to_xyxy_f32, py::arg("boxes"), py::arg("width"), py::arg("height"),
          py::arg("clip"), "Normalised cxcywh -> absolute xyxy.");
    m.def("affine_boxes", &affine_boxes_f32, py::arg("boxes"), py::arg("sx"), py::arg("sy"), py::arg("ox"),
          py::arg("oy"), py::arg("clip"), py::arg("clip_w"), py::arg("clip_h"),
          "xyxy boxes mapped by x*sx+ox, y*sy+oy, optionally clipped.");
    m.def("affine_boxes_keep", &affine_boxes_keep_f32, py::arg("boxes"), py::arg("sx"), py::arg("sy"),
          py::arg("ox"), py::arg("oy"), py::arg("clip"), py::arg("clip_w"), py::arg("clip_h"),
          "affine_boxes plus int64 indices of boxes with centre in the frame and positive clipped area.");
}
