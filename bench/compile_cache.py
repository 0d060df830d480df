"""Compile latency, cold and from the persistent cache: does a second process compile anything?

    python -m bench.compile_cache [--action wilson] [--size 4] [--dtype complex128]

Two fresh processes in turn call the compiled force of ``--action`` (:mod:`lqcd_hmc.kernels`)
on a hot ``size^4`` SU(3) field, with an empty temporary ``TORCHINDUCTOR_CACHE_DIR`` for the
first (:func:`lqcd_hmc.kernels.dynamics.compile_cache`). Printed per process: seconds of the
first call (tracing and compiling, or tracing and loading the cached kernels) and of the
second (the kernel alone), and the ratio cold / warm of the first calls. What is left in the
warm process is Dynamo's tracing and the cache lookup; Inductor generates no code.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time


def child(action: str, size: int, dtype: str) -> dict[str, float]:
    import torch

    from lqcd_hmc import ChainRNG, GaugeField
    from lqcd_hmc.action import build
    from lqcd_hmc.kernels.dynamics import make_dynamics

    torch.set_num_threads(1)
    f = GaugeField.hot([size] * 4, "SU(3)", ChainRNG(1, 1), dtype=getattr(torch, dtype))
    dyn = make_dynamics([build({"name": action, "beta": 6.0})], f.group, "compiled")
    U = dyn.to_layout(f.links)
    t0 = time.perf_counter()
    dyn.force(0, U)
    t1 = time.perf_counter()
    dyn.force(0, U)
    return {"first": t1 - t0, "second": time.perf_counter() - t1}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--action", default="wilson")
    p.add_argument("--size", type=int, default=4)
    p.add_argument("--dtype", default="complex128")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args.action, args.size, args.dtype)))
        return
    cmd = [sys.executable, "-m", "bench.compile_cache", "--child", "--action", args.action]
    cmd += ["--size", str(args.size), "--dtype", args.dtype]
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache, "OMP_NUM_THREADS": "1"}
        for which in ("cold cache", "warm cache (second process)"):
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            rows.append((which, json.loads(out.stdout.strip().splitlines()[-1])))
    print(f"compiled {args.action} force, SU(3) {args.size}^4, {args.dtype}, 1 thread")
    print("| process | first call s | second call s |")
    print("|---|---|---|")
    for which, r in rows:
        print(f"| {which} | {r['first']:.1f} | {r['second']:.4f} |")
    print(f"cold / warm first call: {rows[0][1]['first'] / rows[1][1]['first']:.1f}")


if __name__ == "__main__":
    main()
