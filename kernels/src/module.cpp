// groundlite._kernels — pybind11 module entry point. Each kernel family registers its bindings
// from its own translation unit (bind_*.cpp) through the functions declared below.
#include <pybind11/pybind11.h>

#include "groundlite/simd.hpp"

namespace py = pybind11;

void register_nms(py::module_& m);
void register_similarity(py::module_& m);
void register_boxes(py::module_& m);
void register_preprocess(py::module_& m);
void register_text(py::module_& m);

PYBIND11_MODULE(_kernels, m) {
    m.doc() = "groundlite C++ kernels (use groundlite.ops, not this module directly)";
#if defined(__AVX512F__)
    m.attr("compiled_isa") = "avx512";
#elif defined(__AVX2__)
    m.attr("compiled_isa") = "avx2";
#elif defined(__ARM_NEON)
    m.attr("compiled_isa") = "neon";
#else
    m.attr("compiled_isa") = "baseline";
#endif
    // which hot loops are multiversioned: the loader picks a clone per CPU at import time
    m.attr("dispatch") = GL_DISPATCH;
    register_nms(m);
    register_similarity(m);
    register_boxes(m);
    register_preprocess(m);
    register_text(m);
}
