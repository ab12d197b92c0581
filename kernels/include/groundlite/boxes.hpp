// Box coordinate transforms on raw pointers ([n,4] rows).
#pragma once

#include <algorithm>
#include <cstdint>

namespace groundlite {

// Normalised (cx, cy, w, h) -> absolute (x1, y1, x2, y2) in a width x height frame, as
// transformers' center_to_corners_format followed by scaling; optionally clipped to the frame.
template <typename T>
void cxcywh_to_xyxy(const T* in, std::int64_t n, T width, T height, bool clip, T* out) {
    for (std::int64_t i = 0; i < n; ++i) {
        const T* b = in + 4 * i;
        T* o = out + 4 * i;
        T x1 = (b[0] - T(0.5) * b[2]) * width;
        T y1 = (b[1] - T(0.5) * b[3]) * height;
        T x2 = (b[0] + T(0.5) * b[2]) * width;
        T y2 = (b[1] + T(0.5) * b[3]) * height;
        if (clip) {
            x1 = std::clamp(x1, T(0), width);
            y1 = std::clamp(y1, T(0), height);
            x2 = std::clamp(x2, T(0), width);
            y2 = std::clamp(y2, T(0), height);
        }
        o[0] = x1;
        o[1] = y1;
        o[2] = x2;
        o[3] = y2;
    }
}

// x' = x * sx + ox, y' = y * sy + oy on xyxy boxes; optionally clipped to [0,clip_w]x[0,clip_h].
template <typename T>
void affine_boxes(const T* in, std::int64_t n, T sx, T sy, T ox, T oy, bool clip, T clip_w, T clip_h,
                  T* out) {
    for (std::int64_t i = 0; i < n; ++i) {
        const T* b = in + 4 * i;
        T* o = out + 4 * i;
        T x1 = b[0] * sx + ox;
        T y1 = b[1] * sy + oy;
        T x2 = b[2] * sx + ox;
        T y2 = b[3] * sy + oy;
        if (clip) {
            x1 = std::clamp(x1, T(0), clip_w);
            y1 = std::clamp(y1, T(0), clip_h);
            x2 = std::clamp(x2, T(0), clip_w);
            y2 = std::clamp(y2, T(0), clip_h);
        }
        o[0] = x1;
        o[1] = y1;
        o[2] = x2;
        o[3] = y2;
    }
}

}  // namespace groundlite
