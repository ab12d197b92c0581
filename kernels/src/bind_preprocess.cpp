// Binding for image pre-processing: uint8 [H,W,3] -> float32 [1,3,S,S].
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

#include "bind_util.hpp"
#include "groundlite/parallel.hpp"
#include "groundlite/resize.hpp"

namespace py = pybind11;
using groundlite::bind::carray;
using groundlite::bind::check_shape;

namespace {

// Non-template entry points so the resampling loops can be multiversioned (AVX-512 / AVX2 /
// baseline). Each handles one row range of one stage; parallel_rows spreads the ranges over
// threads (the lambdas there only forward here, so the clones keep their ISA).
GL_MULTIVERSION void squash_stage1_kernel(const groundlite::SquashPlan& p, const std::uint8_t* img, std::uint8_t* tmp,
                                          std::int64_t r0, std::int64_t r1) {
    groundlite::squash_stage1(p, img, tmp, r0, r1);
}

GL_MULTIVERSION void squash_stage2_kernel(const groundlite::SquashPlan& p, const std::uint8_t* tmp, float* o,
                                          std::int64_t y0, std::int64_t y1) {
    groundlite::squash_stage2(p, tmp, o, y0, y1);
}

GL_MULTIVERSION void pad_stage1_kernel(const groundlite::PadPlan& p, const std::uint8_t* img, float* tmp,
                                       std::int64_t r0, std::int64_t r1) {
    groundlite::pad_stage1(p, img, tmp, r0, r1);
}

GL_MULTIVERSION void pad_stage2_kernel(const groundlite::PadPlan& p, const float* tmp, float* o, std::int64_t y0,
                                       std::int64_t y1) {
    groundlite::pad_stage2(p, tmp, o, y0, y1);
}

// Rows per thread below which splitting does not pay for the thread start.
constexpr std::int64_t kRowGrain = 64;

template <typename Plan, typename Tmp, typename S1, typename S2>
void run_two_stages(const Plan& p, const std::uint8_t* img, float* o, int threads, S1 stage1, S2 stage2) {
    std::vector<Tmp> tmp(static_cast<std::size_t>(p.tmp_size()));
    Tmp* t = tmp.data();
    const std::int64_t n1 = p.stage1_rows();
    groundlite::parallel_rows(n1, groundlite::plan_threads(n1, kRowGrain, threads), groundlite::detail::kRowBlock,
                              [&](std::int64_t a, std::int64_t b) { stage1(p, img, t, a, b); });
    groundlite::parallel_rows(p.s, groundlite::plan_threads(p.s, kRowGrain, threads), 1,
                              [&](std::int64_t a, std::int64_t b) { stage2(p, t, o, a, b); });
}

py::array_t<float> preprocess_u8(const carray<std::uint8_t>& image, std::int64_t size, const std::string& mode,
                                 const carray<float>& mean, const carray<float>& stdev, float pad_value,
                                 int threads, const py::object& out_obj) {
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
    using out_array = py::array_t<float, py::array::c_style>;
    out_array out;
    if (out_obj.is_none()) {
        out = out_array({static_cast<py::ssize_t>(1), static_cast<py::ssize_t>(3), s, s});
    } else {
        // Written in place (e.g. one image's slice of a batch), so never a converted copy.
        if (!py::isinstance<out_array>(out_obj)) {
            throw py::value_error("out: expected a C-contiguous float32 numpy array, got " +
                                  std::string(py::str(py::type::of(out_obj).attr("__name__"))));
        }
        out = py::reinterpret_borrow<out_array>(out_obj);
        check_shape(out.request(), "out", {1, 3, s, s}, "(1, 3, S, S)");
        if (!out.writeable()) throw py::value_error("out: expected a writeable array, got a read-only one");
    }
    float* o = out.mutable_data();
    const std::uint8_t* img = image.data();
    const float* m = mean.data();
    const float* sd = stdev.data();
    {
        py::gil_scoped_release nogil;
        if (squash) {
            const auto plan = groundlite::squash_plan(h, w, size, m, sd);
            run_two_stages<groundlite::SquashPlan, std::uint8_t>(plan, img, o, threads, squash_stage1_kernel,
                                                                 squash_stage2_kernel);
        } else {
            const auto plan = groundlite::pad_plan(h, w, size, m, sd, pad_value);
            run_two_stages<groundlite::PadPlan, float>(plan, img, o, threads, pad_stage1_kernel, pad_stage2_kernel);
        }
    }
    return out;
}

}  // namespace

void register_preprocess(py::module_& m) {
    m.def("preprocess", &preprocess_u8, py::arg("image"), py::arg("size"), py::arg("mode"), py::arg("mean"),
          py::arg("std"), py::arg("pad_value"), py::arg("threads") = 0, py::arg("out") = py::none(),
          "uint8 [H,W,3] -> normalised float32 [1,3,S,S] (into `out` when given); threads <= 0: all hardware "
          "threads (at most 8).");
}
