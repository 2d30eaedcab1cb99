"""Baseline for bench/io.ts: onnx.load + onnx.save of one model file (run with /usr/bin/python3,
Debian's python3-onnx). Prints one JSON line on stdout with the time of each step."""
import json
import sys
import time

t0 = time.perf_counter()
import onnx  # noqa: E402
from google.protobuf.internal import api_implementation  # noqa: E402

t1 = time.perf_counter()
model = onnx.load(sys.argv[1])
t2 = time.perf_counter()
onnx.save(model, sys.argv[2])
t3 = time.perf_counter()
print(json.dumps({
    "import_s": t1 - t0, "load_s": t2 - t1, "save_s": t3 - t2,
    "onnx": onnx.__version__, "protobuf": api_implementation.Type(),
}))
