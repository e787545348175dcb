// A minimal C++ host for equifx through include/equifx.hpp: lists the nodes,
// runs Exposure on a small bottom-up RGBA8 frame with progress and abort
// callbacks, prints the result as hex, and shows errors arriving as
// exceptions. Build (from the repository root, after `cargo build -p equifx-ffi`):
//
//   g++ -std=c++17 -Wall -Wextra -Iinclude examples/cpp_host/main.cpp
//       -Ltarget/debug -lequifx_ffi -Wl,-rpath,target/debug -o cpp_host
#include <cmath>
#include <cstdio>
#include <limits>
#include <vector>

#include "equifx.hpp"

int main() {
    for (const auto &n : equifx::nodes()) {
        std::printf("node %s (%s), %zu params\n", n.id.c_str(), n.label.c_str(), n.params.size());
    }
    try {
        equifx::Instance bad("org.equifx.NoSuchNode");
        return 1;
    } catch (const equifx::Error &e) {
        std::printf("unknown node -> status %d: %s\n", static_cast<int>(e.status()), e.what());
    }

    equifx::Instance fx("org.equifx.Exposure");
    fx.set("exposure", 1.0);
    try {
        fx.set("exposure", std::numeric_limits<double>::infinity());
        return 1;
    } catch (const equifx::Error &e) {
        std::printf("setting inf -> status %d: %s\n", static_cast<int>(e.status()), e.what());
    }

    const uint32_t w = 4, h = 2;
    std::vector<uint8_t> src(w * h * 4), dst(w * h * 4);
    for (size_t i = 0; i < src.size(); i++) src[i] = static_cast<uint8_t>(i * 7 + 3);
    // Bottom-up rows, as OpenFX hosts hand frames.
    const intptr_t row_bytes = -static_cast<intptr_t>(w * 4);
    auto in = equifx::frame(w, h, EQUIFX_PIXEL_FORMAT_RGBA_U8, EQUIFX_COLOUR_SPACE_SRGB, EQUIFX_ALPHA_MODE_STRAIGHT,
                            row_bytes, src.data(), src.size());
    auto out = equifx::frame(w, h, EQUIFX_PIXEL_FORMAT_RGBA_U8, EQUIFX_COLOUR_SPACE_SRGB, EQUIFX_ALPHA_MODE_STRAIGHT,
                             row_bytes, dst.data(), dst.size());

    double last_progress = -1;
    equifx::RenderCallbacks cb;
    cb.progress = [&](double f) { last_progress = f; };
    cb.abort = [] { return false; };
    fx.render({in}, out, 0, &cb);
    std::printf("progress %.1f\n", last_progress);

    // An abort from the host arrives as an exception with EQUIFX_STATUS_ABORTED.
    equifx::RenderCallbacks stop;
    stop.abort = [] { return true; };
    try {
        fx.render({in}, out, 0, &stop);
        return 1;
    } catch (const equifx::Error &e) {
        if (e.status() != EQUIFX_STATUS_ABORTED) return 1;
        std::printf("aborted -> status %d\n", static_cast<int>(e.status()));
    }

    std::printf("output ");
    for (uint8_t b : dst) std::printf("%02x", b);
    std::printf("\n");
    return 0;
}
