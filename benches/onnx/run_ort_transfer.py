"""Whole-process ONNX Runtime counterpart of `equifx transfer` for
benches/vs_onnxruntime.rs: decode a PNG, run an exported translate graph on
the whole frame (untiled, full resolution), encode a PNG.

Usage: run_ort_transfer.py GRAPH.onnx FRAME.png OUT.png
Threads: $EQUIFX_ORT_THREADS (default 2) for intra_op_num_threads.

The frame (8-bit sRGB, which is what the shipped bundle's network reads) goes
in as values / 255; its sides are reflect-padded up to multiples of 16 (the
shipped bundle's `ModelConfig::align()`, as equifx pads) and the output
cropped back, clamped to [0, 1] and rounded to 8 bits. PNG decoding and
encoding are Pillow's (zlib), at Pillow's default compression.
"""

import os
import sys

import numpy as np
import onnxruntime as ort
from PIL import Image

ALIGN = 16


def main(graph, frame, out):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = int(os.environ.get("EQUIFX_ORT_THREADS", "2"))
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(graph, opts, providers=["CPUExecutionProvider"])
    rgb = np.asarray(Image.open(frame).convert("RGB"), dtype=np.float32) / 255.0
    h, w, _ = rgb.shape
    ph, pw = -h % ALIGN, -w % ALIGN
    x = np.pad(rgb, ((0, ph), (0, pw), (0, 0)), mode="reflect")
    x = np.ascontiguousarray(x.transpose(2, 0, 1)[None])
    (y,) = session.run(["y"], {"x": x})
    y = np.clip(y[0, :, :h, :w].transpose(1, 2, 0), 0.0, 1.0)
    Image.fromarray((y * 255.0 + 0.5).astype(np.uint8), "RGB").save(out)


if __name__ == "__main__":
    main(*sys.argv[1:4])
