// A C++ host on the cxx API (include/equifx_cxx.h + the static library
// libequifx_cxx.a): lists the nodes, renders Exposure on a small frame, and
// shows that a bad parameter arrives as a rust::Error exception the host can
// catch and carry on from.
//
// Build (see docs/c-api.md):
//   g++ -std=c++17 main.cpp -I include -I CXXBRIDGE_INCLUDE
//       target/release/libequifx_cxx.a -lpthread -ldl -lm -o cxx_host

#include <cmath>
#include <cstdio>
#include <vector>

#include "rust/cxx.h"  // rust::Error, rust::Slice: from the cxx crate (see docs/c-api.md)
#include "equifx_cxx.h"

int main() {
    for (const auto &n : equifx::nodes()) {
        std::printf("node %s (%s)%s\n", std::string(n.id).c_str(), std::string(n.label).c_str(),
                    n.generator ? " generator" : "");
    }
    auto exposure = equifx::new_instance("org.equifx.Exposure");
    exposure->set_param("exposure", "1");
    const size_t w = 4, h = 3;
    std::vector<float> frame(w * h * 4);
    for (size_t i = 0; i < frame.size(); ++i) frame[i] = (i % 4 == 3) ? 1.0f : 0.1f * float(i % 7);
    auto out = exposure->render_rgba(rust::Slice<const float>(frame.data(), frame.size()), w, h, 0);
    for (size_t i = 0; i < frame.size(); ++i) {
        const float want = (i % 4 == 3) ? frame[i] : 2.0f * frame[i];
        if (std::fabs(out[i] - want) > 1e-6f) {
            std::printf("mismatch at %zu: %f vs %f\n", i, out[i], want);
            return 1;
        }
    }
    std::printf("exposure +1 doubled %zu pixels\n", w * h);
    try {
        exposure->set_param("exposure", "not-a-number");
        std::printf("a bad value was accepted\n");
        return 1;
    } catch (const rust::Error &e) {
        std::printf("refused: %s\n", e.what());
    }
    try {
        equifx::new_instance("org.equifx.NoSuchNode");
        return 1;
    } catch (const rust::Error &e) {
        std::printf("refused: %s\n", e.what());
    }
    return 0;
}
