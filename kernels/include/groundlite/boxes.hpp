// Box coordinate transforms on raw pointers ([n,4] rows).
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

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

// Clamps xyxy boxes in place to [0,w]x[0,h] (what affine_boxes does when `clip` is set).
template <typename T>
void clip_boxes(T* boxes, std::int64_t n, T w, T h) {
    for (std::int64_t i = 0; i < n; ++i) {
        T* b = boxes + 4 * i;
        b[0] = std::clamp(b[0], T(0), w);
        b[1] = std::clamp(b[1], T(0), h);
        b[2] = std::clamp(b[2], T(0), w);
        b[3] = std::clamp(b[3], T(0), h);
    }
}

// Which mapped boxes are real boxes in the [0,w]x[0,h] frame: appends to `keep` the index of every
// box whose centre (of the unclipped box) lies in the closed frame and whose extent clipped to the
// frame is positive in both x and y. A box the image encoder put in the padding of a letterboxed
// image fails both (it clips to a line on the border); one reaching in from the padding with its
// centre outside is dropped too, as the model saw mostly grey there. NaN centres are dropped.
template <typename T>
void boxes_in_frame(const T* boxes, std::int64_t n, T w, T h, std::vector<std::int64_t>& keep) {
    for (std::int64_t i = 0; i < n; ++i) {
        const T* b = boxes + 4 * i;
        // halves first: (x1 + x2) could overflow where the centre does not
        const T cx = b[0] * T(0.5) + b[2] * T(0.5);
        const T cy = b[1] * T(0.5) + b[3] * T(0.5);
        const bool centre_inside = cx >= T(0) && cx <= w && cy >= T(0) && cy <= h;
        const T cw = std::min(b[2], w) - std::max(b[0], T(0));
        const T ch = std::min(b[3], h) - std::max(b[1], T(0));
        if (centre_inside && cw > T(0) && ch > T(0)) keep.push_back(i);
    }
}

}  // namespace groundlite
