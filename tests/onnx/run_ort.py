"""Runs exported equifx ONNX graphs in ONNX Runtime for tests/onnx_export.rs.

Usage: run_ort.py JOB.json RESULT.json

JOB.json: {"cases": [{"model": PATH, "input": NAME, "shape": [..],
                      "input_file": PATH, "output": NAME, "output_file": PATH}]}
Inputs and outputs are raw little-endian float32, row-major. Each model is
first checked with onnx.checker (full check, with shape inference) when the
onnx package is installed. RESULT.json records versions, the checker verdict
per model, the declared input/output shapes and each output's shape.
"""

import json
import sys

import numpy as np
import onnxruntime as ort

try:
    import onnx
except ImportError:  # optional: only the structural check needs it
    onnx = None


def declared(values):
    return {v.name: [d if isinstance(d, str) else int(d) for d in v.shape] for v in values}


def main(job_path, result_path):
    with open(job_path) as f:
        job = json.load(f)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    sessions, models, cases = {}, {}, []
    for case in job["cases"]:
        path = case["model"]
        if path not in sessions:
            checker = "onnx not installed"
            if onnx is not None:
                onnx.checker.check_model(path, full_check=True)
                checker = "passed (onnx %s)" % onnx.__version__
            s = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
            sessions[path] = s
            models[path] = {
                "checker": checker,
                "inputs": declared(s.get_inputs()),
                "outputs": declared(s.get_outputs()),
            }
        x = np.fromfile(case["input_file"], dtype="<f4").reshape(case["shape"])
        (y,) = sessions[path].run([case["output"]], {case["input"]: x})
        np.ascontiguousarray(y, dtype="<f4").tofile(case["output_file"])
        cases.append({"output_shape": list(y.shape)})
    result = {
        "onnxruntime": ort.__version__,
        "numpy": np.__version__,
        "onnx": None if onnx is None else onnx.__version__,
        "models": models,
        "cases": cases,
    }
    with open(result_path, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
