"""A Python host for equifx through the C ABI (ctypes, standard library only).

    python3 examples/python/equifx_host.py target/release/libequifx_ffi.so

Pipelines can copy the small `Equifx` class: it checks the ABI version, turns
status codes into exceptions carrying equifx's own message, and renders
numpy-free float32 buffers (any buffer object works, e.g. numpy arrays).
"""
import array
import ctypes as C
import sys

ABI_VERSION = 1
OK = 0


class Frame(C.Structure):
    _fields_ = [
        ("struct_size", C.c_uint32),
        ("width", C.c_uint32),
        ("height", C.c_uint32),
        ("pixel_format", C.c_uint32),
        ("colour_space", C.c_uint32),
        ("alpha_mode", C.c_uint32),
        ("row_bytes", C.c_ssize_t),
        ("data", C.c_void_p),
        ("data_len", C.c_size_t),
    ]


class NodeInfo(C.Structure):
    _fields_ = [
        ("struct_size", C.c_uint32),
        ("id", C.c_char_p),
        ("label", C.c_char_p),
        ("group", C.c_char_p),
        ("summary", C.c_char_p),
        ("version_major", C.c_uint32),
        ("version_minor", C.c_uint32),
        ("input_count", C.c_uint32),
        ("param_count", C.c_uint32),
    ]


class EquifxError(RuntimeError):
    def __init__(self, status, message):
        super().__init__(f"equifx status {status}: {message}")
        self.status = status


class Equifx:
    def __init__(self, path):
        lib = C.CDLL(path)
        lib.equifx_get_entry.restype = C.c_void_p
        lib.equifx_get_entry.argtypes = [C.c_uint32]
        lib.equifx_last_error.restype = C.c_char_p
        lib.equifx_node_count.restype = C.c_uint32
        lib.equifx_node_get_info.argtypes = [C.c_uint32, C.POINTER(NodeInfo)]
        lib.equifx_instance_new.argtypes = [C.c_char_p, C.POINTER(C.c_void_p)]
        lib.equifx_instance_free.argtypes = [C.c_void_p]
        lib.equifx_instance_set_float.argtypes = [C.c_void_p, C.c_char_p, C.c_double]
        lib.equifx_instance_render.argtypes = [
            C.c_void_p, C.POINTER(Frame), C.c_size_t, C.POINTER(Frame), C.c_int64, C.c_void_p]
        if not lib.equifx_get_entry(ABI_VERSION):
            raise EquifxError(101, lib.equifx_last_error().decode())
        self.lib = lib

    def check(self, status):
        if status != OK:
            raise EquifxError(status, self.lib.equifx_last_error().decode())

    def nodes(self):
        out = []
        for i in range(self.lib.equifx_node_count()):
            info = NodeInfo(struct_size=C.sizeof(NodeInfo))
            self.check(self.lib.equifx_node_get_info(i, C.byref(info)))
            out.append((info.id.decode(), info.label.decode()))
        return out

    def render_rgba_f32(self, node, params, pixels, width, height, frame=0):
        """Renders a linear, premultiplied RGBA float32 image given as a flat buffer."""
        inst = C.c_void_p()
        self.check(self.lib.equifx_instance_new(node.encode(), C.byref(inst)))
        try:
            for name, value in params.items():
                self.check(self.lib.equifx_instance_set_float(inst, name.encode(), float(value)))
            src = (C.c_float * len(pixels)).from_buffer_copy(pixels)
            dst = (C.c_float * len(pixels))()
            def frame_of(buf):
                return Frame(C.sizeof(Frame), width, height, 0x03, 1, 1, width * 16,
                             C.cast(buf, C.c_void_p), C.sizeof(buf))
            fin, fout = frame_of(src), frame_of(dst)
            self.check(self.lib.equifx_instance_render(inst, C.byref(fin), 1, C.byref(fout), frame, None))
            return array.array("f", dst)
        finally:
            self.lib.equifx_instance_free(inst)


def main():
    fx = Equifx(sys.argv[1] if len(sys.argv) > 1 else "target/release/libequifx_ffi.so")
    for node_id, label in fx.nodes():
        print(f"node {node_id} ({label})")
    pixels = array.array("f", [0.1, 0.2, 0.4, 1.0] * 6)
    out = fx.render_rgba_f32("org.equifx.Exposure", {"exposure": 1.0}, pixels, 3, 2)
    print("output", " ".join(f"{v:.6f}" for v in out))
    try:
        fx.render_rgba_f32("org.equifx.Exposure", {"exposure": float("nan")}, pixels, 3, 2)
    except EquifxError as e:
        print("refused:", e)


if __name__ == "__main__":
    main()
