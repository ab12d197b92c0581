// Shared validation helpers for the bind_*.cpp translation units. Every check raises ValueError
// (groundlite.ops re-raises it as InvalidArgumentError) with one sentence: argument, expected, got.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace groundlite::bind {

namespace py = pybind11;

template <typename T>
using carray = py::array_t<T, py::array::c_style | py::array::forcecast>;

inline std::string shape_str(const py::buffer_info& info) {
    std::string s = "(";
    for (std::size_t i = 0; i < info.shape.size(); ++i) {
        if (i) s += ", ";
        s += std::to_string(info.shape[i]);
    }
    if (info.shape.size() == 1) s += ",";
    return s + ")";
}

// Checks rank and the fixed dimensions (-1 = any) of `info`; `expected` is how the message shows it.
inline void check_shape(const py::buffer_info& info, const char* name, std::vector<py::ssize_t> dims,
                        const char* expected) {
    bool ok = info.ndim == static_cast<py::ssize_t>(dims.size());
    for (std::size_t i = 0; ok && i < dims.size(); ++i) {
        ok = dims[i] < 0 || info.shape[i] == dims[i];
    }
    if (!ok) {
        throw py::value_error(std::string(name) + ": expected shape " + expected + ", got " +
                              shape_str(info));
    }
}

inline py::array_t<std::int64_t> to_int64_array(const std::vector<std::int64_t>& v) {
    py::array_t<std::int64_t> out(static_cast<py::ssize_t>(v.size()));
    std::copy(v.begin(), v.end(), out.mutable_data());
    return out;
}

inline py::array_t<float> to_float_array(const std::vector<float>& v) {
    py::array_t<float> out(static_cast<py::ssize_t>(v.size()));
    std::copy(v.begin(), v.end(), out.mutable_data());
    return out;
}

}  // namespace groundlite::bind
