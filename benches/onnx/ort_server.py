"""ONNX Runtime side of benches/vs_onnxruntime.rs: a persistent child process.

Usage: ort_server.py JOB.json

JOB.json: {"threads": 2, "graphs": [{"name": NAME, "model": PATH, "input": NAME,
           "output": NAME, "input_file": PATH, "shape": [..]}]}
Inputs are raw little-endian float32, row-major. Every session and input is
loaded before "ready" is printed, so neither Python's start-up nor session
creation is timed. Then, one command a line on stdin, one reply a line:

  run NAME         -> "done NAME WALL_S CPU_S" (session.run alone: wall clock
                      and this process's CPU time, all threads)
  save NAME FILE   -> "saved": the last output of NAME as raw float32
  quit
"""

import json
import sys
import time

import numpy as np
import onnxruntime as ort


def main(job_path):
    with open(job_path) as f:
        job = json.load(f)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = int(job.get("threads", 2))
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    graphs, last = {}, {}
    for g in job["graphs"]:
        s = ort.InferenceSession(g["model"], opts, providers=["CPUExecutionProvider"])
        x = np.fromfile(g["input_file"], dtype="<f4").reshape(g["shape"])
        graphs[g["name"]] = (s, g["input"], g["output"], x)
    print("ready onnxruntime %s numpy %s" % (ort.__version__, np.__version__), flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] == "quit":
            break
        if cmd[0] == "run":
            s, i, o, x = graphs[cmd[1]]
            w0, c0 = time.perf_counter(), time.process_time()
            (y,) = s.run([o], {i: x})
            w1, c1 = time.perf_counter(), time.process_time()
            last[cmd[1]] = y
            print("done %s %.6f %.6f" % (cmd[1], w1 - w0, c1 - c0), flush=True)
        elif cmd[0] == "save":
            np.ascontiguousarray(last[cmd[1]], dtype="<f4").tofile(cmd[2])
            print("saved", flush=True)
        else:
            print("error unknown command %r" % line.strip(), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
