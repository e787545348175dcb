/*
 * equifx C++ API: a header-only RAII layer over the C ABI in equifx.h.
 *
 * Same library, same render path, same results as C and OpenFX; in C++ the
 * instance frees itself, failures are exceptions (equifx::Error, carrying
 * the status and the library's message), and progress/abort are
 * std::function. Link with -lequifx_ffi; C++17.
 *
 *   equifx::Instance fx("org.equifx.Exposure");
 *   fx.set("exposure", 1.0);
 *   fx.render({in_frame}, out_frame, frame_number);
 *
 * Thread safety is the C ABI's: one Instance may render on many threads at
 * once; setting a parameter waits for renders of that instance in flight.
 */
#ifndef EQUIFX_HPP
#define EQUIFX_HPP

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "equifx.h"

namespace equifx {

/** A failed call: status() is the equifx_status, what() the library's explanation. */
class Error : public std::runtime_error {
public:
    Error(equifx_status status, const std::string &message)
        : std::runtime_error(message), status_(status) {}
    equifx_status status() const noexcept { return status_; }

private:
    equifx_status status_;
};

/** Throws equifx::Error unless st is EQUIFX_STATUS_OK. */
inline void check(equifx_status st) {
    if (st != EQUIFX_STATUS_OK) throw Error(st, equifx_last_error());
}

/** A parameter as the manifest declares it. */
struct ParamInfo {
    std::string id, label, hint;
    equifx_param_kind kind;
    double min, max, default_number;
    std::string default_text;
    std::vector<std::string> options;
};

/** A node as the manifest declares it. */
struct NodeInfo {
    std::string id, label, group, summary;
    uint32_t version_major, version_minor, input_count;
    std::vector<ParamInfo> params;
};

/** Every node of the loaded library, in manifest order. */
inline std::vector<NodeInfo> nodes() {
    std::vector<NodeInfo> out;
    for (uint32_t i = 0; i < equifx_node_count(); i++) {
        equifx_node_info n{};
        n.struct_size = sizeof n;
        check(equifx_node_get_info(i, &n));
        NodeInfo node{n.id, n.label, n.group, n.summary, n.version_major, n.version_minor, n.input_count, {}};
        for (uint32_t j = 0; j < n.param_count; j++) {
            equifx_param_info p{};
            p.struct_size = sizeof p;
            check(equifx_param_get_info(i, j, &p));
            ParamInfo param{p.id, p.label, p.hint, p.kind, p.min, p.max, p.default_number, p.default_text, {}};
            for (uint32_t k = 0; k < p.option_count; k++) {
                const char *o = equifx_param_get_option(i, j, k);
                if (o) param.options.emplace_back(o);
            }
            node.params.push_back(std::move(param));
        }
        out.push_back(std::move(node));
    }
    return out;
}

/**
 * Describes a caller-owned buffer. data is the buffer's lowest address;
 * row_bytes < 0 means bottom-up rows (OpenFX/OpenGL), see equifx_frame.
 */
inline equifx_frame frame(uint32_t width, uint32_t height, equifx_pixel_format format,
                          equifx_colour_space colour, equifx_alpha_mode alpha, intptr_t row_bytes,
                          void *data, size_t data_len) {
    equifx_frame f{};
    f.struct_size = sizeof f;
    f.width = width;
    f.height = height;
    f.pixel_format = static_cast<uint32_t>(format);
    f.colour_space = static_cast<uint32_t>(colour);
    f.alpha_mode = static_cast<uint32_t>(alpha);
    f.row_bytes = row_bytes;
    f.data = data;
    f.data_len = data_len;
    return f;
}

/** Optional host services for one render; called on the rendering thread(s). */
struct RenderCallbacks {
    std::function<void(double)> progress;  ///< fraction in [0, 1]
    std::function<bool()> abort;           ///< return true to stop; render() then throws EQUIFX_STATUS_ABORTED
    std::function<void(int, const std::string &)> log;  ///< level 0 error, 1 warning, 2 info
};

/** A node instance with its parameter values. Move-only; frees itself. */
class Instance {
public:
    explicit Instance(const std::string &node_id) { check(equifx_instance_new(node_id.c_str(), &raw_)); }
    ~Instance() { equifx_instance_free(raw_); }
    Instance(Instance &&o) noexcept : raw_(std::exchange(o.raw_, nullptr)) {}
    Instance &operator=(Instance &&o) noexcept {
        if (this != &o) {
            equifx_instance_free(raw_);
            raw_ = std::exchange(o.raw_, nullptr);
        }
        return *this;
    }
    Instance(const Instance &) = delete;
    Instance &operator=(const Instance &) = delete;

    /** Float parameter; NaN, infinities and out-of-range values throw. */
    void set(const std::string &name, double v) { check(equifx_instance_set_float(raw_, name.c_str(), v)); }
    /** Int or seed parameter. */
    void set_int(const std::string &name, int64_t v) { check(equifx_instance_set_int(raw_, name.c_str(), v)); }
    void set_bool(const std::string &name, bool v) { check(equifx_instance_set_bool(raw_, name.c_str(), v)); }
    /** Choice (option name) or path parameter. */
    void set_text(const std::string &name, const std::string &v) {
        check(equifx_instance_set_text(raw_, name.c_str(), v.c_str()));
    }
    double get(const std::string &name) const {
        double v = 0;
        check(equifx_instance_get_float(raw_, name.c_str(), &v));
        return v;
    }

    /** Renders frame number `frame` from `inputs` (one per node input) into `output`. */
    void render(const std::vector<equifx_frame> &inputs, const equifx_frame &output, int64_t frame,
                const RenderCallbacks *callbacks = nullptr) const {
        equifx_callbacks cb{};
        cb.struct_size = sizeof cb;
        cb.userdata = const_cast<RenderCallbacks *>(callbacks);
        if (callbacks) {
            if (callbacks->progress)
                cb.progress = [](void *u, double f) { static_cast<RenderCallbacks *>(u)->progress(f); };
            if (callbacks->abort) cb.abort = [](void *u) { return static_cast<RenderCallbacks *>(u)->abort(); };
            if (callbacks->log)
                cb.log = [](void *u, int32_t level, const char *m) { static_cast<RenderCallbacks *>(u)->log(level, m); };
        }
        check(equifx_instance_render(raw_, inputs.empty() ? nullptr : inputs.data(), inputs.size(), &output,
                                     frame, callbacks ? &cb : nullptr));
    }

    /** The C handle, for calls this header does not wrap. Still owned by this object. */
    equifx_instance *get_raw() const noexcept { return raw_; }

private:
    equifx_instance *raw_ = nullptr;
};

}  // namespace equifx

#endif /* EQUIFX_HPP */
