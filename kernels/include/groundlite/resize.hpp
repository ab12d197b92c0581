// Image pre-processing on raw pointers: uint8 HWC RGB -> normalised float CHW at S x S, resampled
// exactly like the reference processors so exported models see the pixels they were trained on.
//
//  * squash_bicubic: Pillow's Image.resize(BICUBIC) re-implemented bit for bit (Resample.c:
//    separable a=-0.5 cubic whose support widens by the scale when downscaling, coefficients
//    normalised per output pixel and rounded to 22-bit fixed point, horizontal pass then vertical
//    pass, uint8 rounding/clipping after each), then rescale + normalise as numpy does, bit for bit.
//  * pad_bilinear_antialias: OWLv2's resize: pad bottom/right to a square, scipy gaussian_filter
//    (sigma = max(0, (factor-1)/2), truncate 4, mode 'mirror') then ndimage.zoom(order=1,
//    grid_mode=True, mode 'mirror'). Both are linear and separable, so per axis they fold into one
//    set of taps per output pixel; taps landing on padding collapse into a constant term.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>
#include <vector>

#include "groundlite/simd.hpp"

namespace groundlite {
namespace detail {

// Taps of a separable resampler along one axis: output o reads `count` inputs starting at
// first[o] with weights w[o*ksize ...] (zero padded to ksize), plus `pad[o] * pad_value`.
template <typename W>
struct AxisTaps {
    std::int64_t ksize = 0;
    std::vector<std::int64_t> first;
    std::vector<W> w;
    std::vector<double> pad;  // weight on padding (pad_bilinear_antialias only)
};

constexpr int kPillowPrecisionBits = 32 - 8 - 2;

inline double pillow_bicubic(double x) {
    constexpr double a = -0.5;
    x = std::fabs(x);
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
    return 0.0;
}

// Pillow's precompute_coeffs + normalize_coeffs_8bpc for the full box (0, in_size).
inline AxisTaps<std::int32_t> pillow_bicubic_taps(std::int64_t in_size, std::int64_t out_size) {
    const double scale = static_cast<double>(in_size) / static_cast<double>(out_size);
    const double filterscale = std::max(scale, 1.0);
    const double support = 2.0 * filterscale;
    std::vector<std::int64_t> xmins(static_cast<std::size_t>(out_size));
    std::vector<std::vector<double>> ks(static_cast<std::size_t>(out_size));
    std::int64_t ksize = 1;
    for (std::int64_t o = 0; o < out_size; ++o) {
        const double center = (static_cast<double>(o) + 0.5) * scale;
        const double ss = 1.0 / filterscale;
        auto xmin = static_cast<std::int64_t>(center - support + 0.5);
        xmin = std::max<std::int64_t>(xmin, 0);
        auto xmax = static_cast<std::int64_t>(center + support + 0.5);
        xmax = std::min(xmax, in_size) - xmin;
        std::vector<double>& k = ks[o];
        k.resize(static_cast<std::size_t>(std::max<std::int64_t>(xmax, 0)));
        double ww = 0.0;
        for (std::int64_t x = 0; x < xmax; ++x) {
            k[x] = pillow_bicubic((static_cast<double>(x + xmin) - center + 0.5) * ss);
            ww += k[x];
        }
        if (ww != 0.0)
            for (double& v : k) v /= ww;
        xmins[o] = xmin;
        ksize = std::max(ksize, xmax);
    }
    // One window width for every output keeps the inner loop's trip count fixed; windows are
    // shifted left to stay inside the input, padding with zero weights.
    AxisTaps<std::int32_t> t;
    t.ksize = std::min(ksize, in_size);
    t.first.resize(static_cast<std::size_t>(out_size));
    t.w.assign(static_cast<std::size_t>(out_size * t.ksize), 0);
    for (std::int64_t o = 0; o < out_size; ++o) {
        t.first[o] = std::min(xmins[o], in_size - t.ksize);
        const std::int64_t off = xmins[o] - t.first[o];
        for (std::size_t x = 0; x < ks[o].size(); ++x) {
            const double v = ks[o][x] * static_cast<double>(1 << kPillowPrecisionBits);
            t.w[o * t.ksize + off + static_cast<std::int64_t>(x)] = static_cast<std::int32_t>(v < 0 ? -0.5 + v : 0.5 + v);
        }
    }
    return t;
}

inline std::int64_t mirror_index(std::int64_t i, std::int64_t n) {
    if (n <= 1) return 0;
    const std::int64_t period = 2 * (n - 1);
    i = std::llabs(i) % period;
    return i >= n ? period - i : i;
}

// Gaussian (scipy gaussian_filter1d, truncate 4) followed by linear zoom (grid_mode) along one
// axis of length `padded` whose indices >= real are padding.
inline AxisTaps<float> antialias_bilinear_taps(std::int64_t real, std::int64_t padded, std::int64_t out_size) {
    const double factor = static_cast<double>(padded) / static_cast<double>(out_size);
    const double sigma = std::max(0.0, (factor - 1.0) / 2.0);
    std::vector<double> g{1.0};
    std::int64_t radius = 0;
    if (sigma > 1e-15) {
        radius = static_cast<std::int64_t>(4.0 * sigma + 0.5);
        g.assign(static_cast<std::size_t>(2 * radius + 1), 0.0);
        double sum = 0.0;
        for (std::int64_t x = -radius; x <= radius; ++x) {
            g[x + radius] = std::exp(-0.5 / (sigma * sigma) * static_cast<double>(x * x));
            sum += g[x + radius];
        }
        for (double& v : g) v /= sum;
    }
    std::vector<std::vector<std::pair<std::int64_t, double>>> per_out(static_cast<std::size_t>(out_size));
    std::int64_t ksize = 1;
    for (std::int64_t o = 0; o < out_size; ++o) {
        const double c = (static_cast<double>(o) + 0.5) * factor - 0.5;
        const double fl = std::floor(c);
        const double frac = c - fl;
        const auto j0 = static_cast<std::int64_t>(fl);
        std::vector<std::pair<std::int64_t, double>> acc;
        const double lin[2] = {1.0 - frac, frac};
        for (int e = 0; e < 2; ++e) {
            if (lin[e] == 0.0) continue;
            const std::int64_t j = mirror_index(j0 + e, padded);
            for (std::int64_t t = -radius; t <= radius; ++t) {
                acc.emplace_back(mirror_index(j + t, padded), lin[e] * g[t + radius]);
            }
        }
        std::sort(acc.begin(), acc.end());
        per_out[o] = std::move(acc);
    }
    AxisTaps<float> t;
    t.first.resize(static_cast<std::size_t>(out_size));
    t.pad.assign(static_cast<std::size_t>(out_size), 0.0);
    for (std::int64_t o = 0; o < out_size; ++o) {
        std::int64_t lo = -1, hi = -1;
        for (const auto& [p, w] : per_out[o]) {
            if (p >= real) continue;
            if (lo < 0) lo = p;
            hi = p;
        }
        t.first[o] = lo < 0 ? 0 : lo;
        if (lo >= 0) ksize = std::max(ksize, hi - lo + 1);
    }
    ksize = std::min(ksize, real);
    t.ksize = ksize;
    t.w.assign(static_cast<std::size_t>(out_size * ksize), 0.0f);
    for (std::int64_t o = 0; o < out_size; ++o) {
        t.first[o] = std::min(t.first[o], real - ksize);
        std::vector<double> dense(static_cast<std::size_t>(ksize), 0.0);
        for (const auto& [p, w] : per_out[o]) {
            if (p >= real) {
                t.pad[o] += w;
            } else {
                dense[p - t.first[o]] += w;
            }
        }
        for (std::int64_t k = 0; k < ksize; ++k) t.w[o * ksize + k] = static_cast<float>(dense[k]);
    }
    return t;
}

// Horizontal passes. Every row uses the same taps, so rows are processed kRowBlock at a time:
// the block is first transposed to [w*3][kRowBlock] so that the innermost loop runs over rows
// with one weight, which vectorises (the per-pixel tap loop itself is too short and irregular).
constexpr std::int64_t kRowBlock = 16;

template <typename Acc, typename W, typename Store>
GL_HOT_INLINE void horizontal_pass_blocked(const std::uint8_t* src, std::int64_t rows, std::int64_t w,
                                           const AxisTaps<W>& t, std::int64_t out_w, Acc bias0,
                                           const double* pad, Acc pad_scale, Store&& store) {
    const std::int64_t ks = t.ksize;
    const std::int64_t n_in = w * 3;
    std::vector<Acc> col(static_cast<std::size_t>(n_in * kRowBlock), Acc(0));
    Acc* GL_RESTRICT cb = col.data();
    for (std::int64_t y0 = 0; y0 < rows; y0 += kRowBlock) {
        const std::int64_t nr = std::min(kRowBlock, rows - y0);
        for (std::int64_t r = 0; r < nr; ++r) {
            const std::uint8_t* in = src + (y0 + r) * n_in;
            for (std::int64_t i = 0; i < n_in; ++i) cb[i * kRowBlock + r] = static_cast<Acc>(in[i]);
        }
        for (std::int64_t x = 0; x < out_w; ++x) {
            const W* k = t.w.data() + x * ks;
            const Acc bias = pad ? static_cast<Acc>(static_cast<Acc>(pad[x]) * pad_scale) + bias0 : bias0;
            for (std::int64_t c = 0; c < 3; ++c) {
                const Acc* base = cb + (t.first[x] * 3 + c) * kRowBlock;
                Acc acc[kRowBlock];
#if defined(__GNUC__) || defined(__clang__)
                // An explicit kRowBlock-lane vector: inside target_clones GCC 12 leaves the plain
                // loop below scalar (16 accumulators in registers), 2.5x slower on AVX-512.
                typedef Acc Lanes __attribute__((vector_size(sizeof(Acc) * kRowBlock)));
                Lanes va = Lanes{} + bias;
                for (std::int64_t i = 0; i < ks; ++i) {
                    Lanes p;
                    std::memcpy(&p, base + i * 3 * kRowBlock, sizeof p);
                    va += p * static_cast<Acc>(k[i]);
                }
                if constexpr (std::is_integral_v<Acc>) {
                    // Pillow's fixed-point rounding, clamp(v >> 22, 0, 255), in lanes: zero the
                    // negatives, saturate above 255 (all-ones mask), keep the low byte.
                    va >>= kPillowPrecisionBits;
                    va &= ~(va >> 31);
                    va |= (255 - va) >> 31;
                    va &= 255;
                }
                std::memcpy(acc, &va, sizeof acc);
#else
                for (std::int64_t r = 0; r < kRowBlock; ++r) acc[r] = bias;
                for (std::int64_t i = 0; i < ks; ++i) {
                    const Acc wk = static_cast<Acc>(k[i]);
                    const Acc* p = base + i * 3 * kRowBlock;
                    for (std::int64_t r = 0; r < kRowBlock; ++r) acc[r] += p[r] * wk;
                }
                if constexpr (std::is_integral_v<Acc>)
                    for (std::int64_t r = 0; r < kRowBlock; ++r)
                        acc[r] = std::clamp(acc[r] >> kPillowPrecisionBits, Acc(0), Acc(255));
#endif
                for (std::int64_t r = 0; r < nr; ++r) store(y0 + r, x, c, acc[r]);
            }
        }
    }
}

// Pillow's fixed-point horizontal pass (bit-exact): uint8 rows -> uint8 rows of out_w x 3.
GL_HOT_INLINE void horizontal_pass_pillow(const std::uint8_t* src, std::int64_t rows, std::int64_t w,
                                          const AxisTaps<std::int32_t>& t, std::int64_t out_w, std::uint8_t* dst) {
    const std::int64_t n_out = out_w * 3;
    horizontal_pass_blocked<std::int32_t>(
        src, rows, w, t, out_w, std::int32_t{1} << (kPillowPrecisionBits - 1), nullptr, 0,
        [dst, n_out](std::int64_t y, std::int64_t x, std::int64_t c, std::int32_t v) {
            dst[y * n_out + x * 3 + c] = static_cast<std::uint8_t>(v);  // already rounded and clamped
        });
}

// The same pass writing three planes: dst[c * plane + y * out_w + x]. The vertical pass then
// reads and writes contiguous runs of one channel, which vectorises end to end.
GL_HOT_INLINE void horizontal_pass_pillow_planar(const std::uint8_t* src, std::int64_t rows, std::int64_t w,
                                                 const AxisTaps<std::int32_t>& t, std::int64_t out_w,
                                                 std::int64_t plane, std::uint8_t* dst) {
    horizontal_pass_blocked<std::int32_t>(
        src, rows, w, t, out_w, std::int32_t{1} << (kPillowPrecisionBits - 1), nullptr, 0,
        [dst, out_w, plane](std::int64_t y, std::int64_t x, std::int64_t c, std::int32_t v) {
            dst[c * plane + y * out_w + x] = static_cast<std::uint8_t>(v);  // already rounded and clamped
        });
}

// Float horizontal pass (OWLv2) into three planes: taps landing on padding add pad[x] * pad255.
GL_HOT_INLINE void horizontal_pass_float(const std::uint8_t* src, std::int64_t rows, std::int64_t w,
                                         const AxisTaps<float>& t, float pad255, std::int64_t out_w,
                                         std::int64_t plane, float* dst) {
    horizontal_pass_blocked<float>(src, rows, w, t, out_w, 0.0f, t.pad.data(), pad255,
                                   [dst, out_w, plane](std::int64_t y, std::int64_t x, std::int64_t c, float v) {
                                       dst[c * plane + y * out_w + x] = v;
                                   });
}

// out[c][y][x] for one output row from an interleaved row of 3*s values.
template <typename V, typename F>
GL_HOT_INLINE void write_planar_row(const V* row, std::int64_t s, std::int64_t y, F&& f, float* out) {
    for (int c = 0; c < 3; ++c) {
        float* o = out + (c * s + y) * s;
        for (std::int64_t x = 0; x < s; ++x) o[x] = f(c, row[3 * x + c]);
    }
}

// (v / 255 - mean) / std for a uint8 value v, in the order transformers uses: three IEEE float
// operations, so the result is bit-identical to numpy's float32 (this file is compiled with
// -ffp-contract=off, and each step is its own statement, so no compiler fuses the multiply and
// subtract). Arithmetic rather than a 256-entry table: a 16-lane gather from the table cost ~7x
// more than the multiply/subtract/divide (measured on Zen 4).
GL_HOT_INLINE float normalise_u8(std::int32_t v, float mean, float stdev) {
    float t = static_cast<float>(v) * (1.0f / 255.0f);
    t = t - mean;
    return t / stdev;
}

// Pillow's vertical pass for output row y: acc[0..n) = rounding bias + sum of the taps over
// rows first[y].. of src (n values per row).
GL_HOT_INLINE void vertical_accumulate_pillow(const std::uint8_t* src, std::int64_t n, const AxisTaps<std::int32_t>& t,
                                              std::int64_t y, std::int32_t* GL_RESTRICT acc) {
    std::fill(acc, acc + n, 1 << (kPillowPrecisionBits - 1));
    const std::int32_t* k = t.w.data() + y * t.ksize;
    for (std::int64_t i = 0; i < t.ksize; ++i) {
        const std::uint8_t* r = src + (t.first[y] + i) * n;
        const std::int32_t wk = k[i];
        for (std::int64_t x = 0; x < n; ++x) acc[x] += static_cast<std::int32_t>(r[x]) * wk;
    }
}

GL_HOT_INLINE std::int32_t pillow_round(std::int32_t v) { return std::clamp(v >> kPillowPrecisionBits, 0, 255); }

// One output row of the vertical pass over one plane of n values, normalised into dst.
GL_HOT_INLINE void vertical_row_pillow_norm(const std::uint8_t* src, std::int64_t n, const AxisTaps<std::int32_t>& t,
                                            std::int64_t y, std::int32_t* GL_RESTRICT acc, float mean, float stdev,
                                            float* GL_RESTRICT dst) {
    vertical_accumulate_pillow(src, n, t, y, acc);
    for (std::int64_t x = 0; x < n; ++x) dst[x] = normalise_u8(pillow_round(acc[x]), mean, stdev);
}

// One output row of the vertical pass: n interleaved uint8 values.
GL_HOT_INLINE void vertical_row_pillow(const std::uint8_t* src, std::int64_t n, const AxisTaps<std::int32_t>& t,
                                       std::int64_t y, std::int32_t* GL_RESTRICT acc, std::uint8_t* dst) {
    vertical_accumulate_pillow(src, n, t, y, acc);
    for (std::int64_t x = 0; x < n; ++x) dst[x] = static_cast<std::uint8_t>(pillow_round(acc[x]));
}

}  // namespace detail

// Both resamplers run in two stages so that each stage can be split over row ranges and run on
// several threads (see parallel.hpp): stage 1 fills an intermediate buffer row by row, stage 2
// turns intermediate rows into output rows. Each row of either stage depends on nothing but the
// previous stage, so any split gives bit-identical output.

// OWL-ViT: Pillow bicubic squash to s x s, then normalise.
struct SquashPlan {
    std::int64_t h = 0, w = 0, s = 0;
    detail::AxisTaps<std::int32_t> hx, vy;
    // Pillow >= 13 runs the vertical pass first when the height shrinks much more than the width
    // (Resample.c: ysize < in_ysize and in_ysize - ysize > 2 * (in_xsize - xsize)); the uint8
    // rounding between passes makes the order visible, so follow it.
    bool vertical_first = false;
    float mean[3] = {0, 0, 0}, stdev[3] = {1, 1, 1};
    // Intermediate: vertical_first: s rows of w*3 interleaved values; else three h x s planes.
    std::int64_t stage1_rows() const { return vertical_first ? s : h; }
    std::int64_t tmp_size() const { return vertical_first ? s * w * 3 : 3 * h * s; }
};

inline SquashPlan squash_plan(std::int64_t h, std::int64_t w, std::int64_t s, const float* mean, const float* stdev) {
    SquashPlan p;
    p.h = h;
    p.w = w;
    p.s = s;
    p.hx = detail::pillow_bicubic_taps(w, s);
    p.vy = detail::pillow_bicubic_taps(h, s);
    p.vertical_first = w != s && h > s && (h - s) > 2 * (w - s);
    std::copy(mean, mean + 3, p.mean);
    std::copy(stdev, stdev + 3, p.stdev);
    return p;
}

// Stage 1, rows [r0, r1) of the intermediate: the vertical pass (s x w*3) when vertical_first,
// else the horizontal pass of input rows into three h x s planes.
GL_HOT_INLINE void squash_stage1(const SquashPlan& p, const std::uint8_t* image, std::uint8_t* tmp, std::int64_t r0,
                                 std::int64_t r1) {
    if (r0 >= r1) return;
    if (p.vertical_first) {
        const std::int64_t n = p.w * 3;
        std::vector<std::int32_t> acc(static_cast<std::size_t>(n));
        for (std::int64_t y = r0; y < r1; ++y) detail::vertical_row_pillow(image, n, p.vy, y, acc.data(), tmp + y * n);
    } else {
        detail::horizontal_pass_pillow_planar(image + r0 * p.w * 3, r1 - r0, p.w, p.hx, p.s, p.h * p.s, tmp + r0 * p.s);
    }
}

// Stage 2, output rows [y0, y1): the remaining pass, then normalise into planar float.
GL_HOT_INLINE void squash_stage2(const SquashPlan& p, const std::uint8_t* tmp, float* out, std::int64_t y0,
                                 std::int64_t y1) {
    if (y0 >= y1) return;
    if (p.vertical_first) {
        const auto to_float = [&p](int c, std::uint8_t v) { return detail::normalise_u8(v, p.mean[c], p.stdev[c]); };
        std::vector<std::uint8_t> row(static_cast<std::size_t>(p.s * 3));
        for (std::int64_t y = y0; y < y1; ++y) {
            detail::horizontal_pass_pillow(tmp + y * p.w * 3, 1, p.w, p.hx, p.s, row.data());
            detail::write_planar_row(row.data(), p.s, y, to_float, out);
        }
        return;
    }
    std::vector<std::int32_t> acc(static_cast<std::size_t>(p.s));
    for (std::int64_t y = y0; y < y1; ++y)
        for (int c = 0; c < 3; ++c)
            detail::vertical_row_pillow_norm(tmp + c * p.h * p.s, p.s, p.vy, y, acc.data(), p.mean[c], p.stdev[c],
                                             out + (c * p.s + y) * p.s);
}

// image: h x w x 3 uint8 (row-major) -> out: 3 x s x s float (OWL-ViT: Pillow bicubic squash), one thread.
inline void preprocess_squash_bicubic(const std::uint8_t* image, std::int64_t h, std::int64_t w, std::int64_t s,
                                      const float* mean, const float* stdev, float* out) {
    const SquashPlan p = squash_plan(h, w, s, mean, stdev);
    std::vector<std::uint8_t> tmp(static_cast<std::size_t>(p.tmp_size()));
    squash_stage1(p, image, tmp.data(), 0, p.stage1_rows());
    squash_stage2(p, tmp.data(), out, 0, s);
}

// OWLv2: pad to a square with pad_value in [0,1], gaussian anti-alias, bilinear zoom, normalise.
struct PadPlan {
    std::int64_t h = 0, w = 0, s = 0;
    detail::AxisTaps<float> hx, vy;
    float pad255 = 0.0f;
    float a[3] = {0, 0, 0}, b[3] = {0, 0, 0};
    std::int64_t stage1_rows() const { return h; }
    std::int64_t tmp_size() const { return 3 * h * s; }  // three h x s planes
};

inline PadPlan pad_plan(std::int64_t h, std::int64_t w, std::int64_t s, const float* mean, const float* stdev,
                        float pad_value) {
    PadPlan p;
    p.h = h;
    p.w = w;
    p.s = s;
    const std::int64_t side = std::max(h, w);
    p.hx = detail::antialias_bilinear_taps(w, side, s);
    p.vy = detail::antialias_bilinear_taps(h, side, s);
    p.pad255 = pad_value * 255.0f;
    for (int c = 0; c < 3; ++c) {
        p.a[c] = 1.0f / (255.0f * stdev[c]);
        p.b[c] = -mean[c] / stdev[c];
    }
    return p;
}

// Stage 1, input rows [r0, r1): the float horizontal pass into tmp (h x s*3).
GL_HOT_INLINE void pad_stage1(const PadPlan& p, const std::uint8_t* image, float* tmp, std::int64_t r0,
                              std::int64_t r1) {
    if (r0 >= r1) return;
    detail::horizontal_pass_float(image + r0 * p.w * 3, r1 - r0, p.w, p.hx, p.pad255, p.s, p.h * p.s, tmp + r0 * p.s);
}

// Stage 2, output rows [y0, y1): the vertical pass and normalisation.
GL_HOT_INLINE void pad_stage2(const PadPlan& p, const float* tmp, float* out, std::int64_t y0, std::int64_t y1) {
    if (y0 >= y1) return;
    const std::int64_t n = p.s;
    std::vector<float> acc_buf(static_cast<std::size_t>(n));
    float* GL_RESTRICT ac = acc_buf.data();
    for (std::int64_t y = y0; y < y1; ++y) {
        const float* k = p.vy.w.data() + y * p.vy.ksize;
        for (int c = 0; c < 3; ++c) {
            const float* plane = tmp + c * p.h * p.s;
            // Padding rows are pad_value everywhere after the horizontal pass (its taps sum to 1).
            std::fill(ac, ac + n, static_cast<float>(p.vy.pad[y]) * p.pad255);
            for (std::int64_t i = 0; i < p.vy.ksize; ++i) {
                const float wk = k[i];
                if (wk == 0.0f) continue;
                const float* r = plane + (p.vy.first[y] + i) * n;
                for (std::int64_t x = 0; x < n; ++x) ac[x] += r[x] * wk;
            }
            const float a = p.a[c], b = p.b[c];
            float* GL_RESTRICT o = out + (c * p.s + y) * p.s;
            for (std::int64_t x = 0; x < n; ++x) o[x] = ac[x] * a + b;
        }
    }
}

// image: h x w x 3 uint8 -> out: 3 x s x s float (OWLv2), one thread.
inline void preprocess_pad_bilinear_antialias(const std::uint8_t* image, std::int64_t h, std::int64_t w,
                                              std::int64_t s, const float* mean, const float* stdev,
                                              float pad_value, float* out) {
    const PadPlan p = pad_plan(h, w, s, mean, stdev, pad_value);
    std::vector<float> tmp(static_cast<std::size_t>(p.tmp_size()));
    pad_stage1(p, image, tmp.data(), 0, p.stage1_rows());
    pad_stage2(p, tmp.data(), out, 0, s);
}

}  // namespace groundlite
