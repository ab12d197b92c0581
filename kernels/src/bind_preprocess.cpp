// Binding for image pre-processing: uint8 [H,W,3] -> float32 [1,3,S,S].
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "bind_util.hpp"
#include "groundlite/resize.hpp"

namespace py = pybind11;
using groundlite::bind::carray;
using groundlite::bind::check_shape;

namespace {

// Non-template entry points so the resampling loops can be multiversioned (AVX-512 / AVX2 / baseline).
GL_MULTIVERSION void squash_kernel(const std::uint8_t* img, std::int64_t h, std::int64_t w, std::int64_t s,
                                   const float* m, const float* sd, float* o) {
    groundlite::preprocess_squash_bicubic(img, h, w, s, m, sd, o);
}

GL_MULTIVERSION void pad_kernel(const std::uint8_t* img, std::int64_t h, std::int64_t w, std::int64_t s, const float* m,
                                const float* sd, float pad_value, float* o) {
    groundlite::preprocess_pad_bilinear_antialias(img, h, w, s, m, sd, pad_value, o);
}

py::array_t<float> preprocess_u8(const carray<std::uint8_t>& image, std::int64_t size, const std::string& mode,
                                 const carray<float>& mean, const carray<float>& stdev, float pad_value) {
    const auto info = image.request();
    check_shape(info, "image", {-1, -1, 3}, "(H, W, 3)");
    check_shape(mean.request(), "mean", {3}, "(3,)");
    check_shape(stdev.request(), "std", {3}, "(3,)");
    const auto h = static_cast<std::int64_t>(info.shape[0]);
    const auto w = static_cast<std::int64_t>(info.shape[1]);
    if (h < 1 || w < 1) {
        throw py::value_error("image: expected at least 1x1 pixels, got " + groundlite::bind::shape_str(info));
    }
    if (size < 1) throw py::value_error("size: expected a positive integer, got " + std::to_string(size));
    const bool squash = mode == "squash-bicubic";
    if (!squash && mode != "pad-bilinear-antialias") {
        throw py::value_error("mode: expected 'squash-bicubic' or 'pad-bilinear-antialias', got '" + mode + "'");
    }
    const auto s = static_cast<py::ssize_t>(size);
    py::array_t<float> out({static_cast<py::ssize_t>(1), static_cast<py::ssize_t>(3), s, s});
    float* o = out.mutable_data();
    const std::uint8_t* img = image.data();
    const float* m = mean.data();
    const float* sd = stdev.data();
    {
        py::gil_scoped_release nogil;
        if (squash) {
            squash_kernel(img, h, w, size, m, sd, o);
        } else {
            pad_kernel(img, h, w, size, m, sd, pad_value, o);
        }
    }
    return out;
}

}  // namespace

void register_preprocess(py::module_& m) {
    m.def("preprocess", &preprocess_u8, py::arg("image"), py::arg("size"), py::arg("mode"), py::arg("mean"),
          py::arg("std"), py::arg("pad_value"), "uint8 [H,W,3] -> normalised float32 [1,3,S,S].");
}
