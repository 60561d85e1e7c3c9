"""The ``walle`` command: convert, run, info, bench, plan, and the task VM / deployment tools."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import __version__
from .errors import Error


def _parse_inputs(items: list[str]) -> dict:
    import numpy as np

    feed = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep:
            raise Error(f"--input expects name=file.npy, got {item!r}")
        feed[name] = np.load(path)
    return feed


def _cmd_convert(args: argparse.Namespace) -> int:
    from .convert import convert

    out = args.output or str(Path(args.model).with_suffix(".walle"))
    report = convert(args.model, out)
    print(f"wrote {out}: {report.nodes_out} nodes (from {report.nodes_in}; {report.folded} folded, "
          f"{report.batchnorms_fused} batchnorms fused into conv, {report.dead_removed} dead), "
          f"{report.weight_bytes / 1e6:.1f} MB of weights, opset {report.opset}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    import numpy as np

    from .benchmark import random_inputs
    from .session import load

    session = load(args.model, backend=args.backend, threads=args.threads)
    feed = random_inputs(session.inputs, seed=args.seed)
    feed.update(_parse_inputs(args.input))
    outputs = session.run(feed)
    for name, value in outputs.items():
        if value is None:
            print(f"{name}: None (an empty optional)")
            continue
        if isinstance(value, list):  # a sequence: one line (and file) per element
            print(f"{name}: sequence of {len(value)}")
            items = [(f"{name}[{k}]", f"{name}_{k}", v) for k, v in enumerate(value)]
        else:
            items = [(name, name, value)]
        for label, stem, v in items:
            arr = np.asarray(v)
            line = f"{label}: shape {arr.shape} dtype {arr.dtype}"
            if arr.size and arr.dtype.kind in "fiub":
                a = arr.astype(np.float64)
                line += f" min {a.min():.6g} max {a.max():.6g} mean {a.mean():.6g}"
                if arr.ndim >= 1 and arr.shape[-1] > 1 and arr.dtype.kind == "f":
                    line += f" argmax(last axis)[:5] {np.argmax(arr.reshape(-1, arr.shape[-1]), axis=-1)[:5].tolist()}"
            print(line)
            if args.save:
                np.save(Path(args.save) / f"{stem}.npy", arr)
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from . import _walle
    from .session import load

    summary = _walle.model_summary(args.model)
    session = load(args.model)
    print(f"model: {args.model}")
    for kind, infos in (("input", session.inputs), ("output", session.outputs)):
        for i in infos:
            desc = f"{i.dtype} {list(i.shape) if i.shape is not None else 'any shape'}"
            print(f"  {kind} {i.name}: {desc if i.kind == 'tensor' else f'{i.kind} of {desc}'}")
    print(f"nodes: {summary['nodes']}  parameters: {summary['parameters']:,}  "
          f"weights: {summary['weight_bytes'] / 1e6:.2f} MB")
    print("op counts: " + ", ".join(f"{k} {v}" for k, v in sorted(summary["op_counts"].items())))
    plan = session.plan()
    if plan:
        macs = sum(row["macs"] for row in plan)
        print(f"MACs: {macs:,} ({macs / 1e9:.3f} G)  atomic ops: {len(plan)}  arena: {session.arena_bytes / 1e6:.2f} MB")
    else:
        print("MACs: unknown until the symbolic input shapes are given (run it once)")
    return 0


def _cmd_plan(args: argparse.Namespace) -> int:
    import os

    from .session import load

    if args.profile:
        os.environ["WALLE_PROFILE"] = "1"
    force = {}
    for item in args.force:
        kind, sep, variant = item.partition("=")
        if not sep or not kind or not variant:
            raise Error(f"--force {item!r}: expected KIND=VARIANT, e.g. Conv=winograd-f43 or layout=nchw")
        force[kind] = variant
    session = load(args.model, backend=args.backend, threads=args.threads, mode=args.mode, force=force)
    if args.profile:
        from .benchmark import random_inputs

        feed = random_inputs(session.inputs)
        for _ in range(args.profile):
            session.run(feed)
    rows = session.plan()
    for row in rows:
        timing = f"{row['us']:10.1f} us " if args.profile else ""
        est = f"{row['estimate_us']:9.1f}" if row["estimate_us"] >= 0 else " " * 9
        meas = f"  meas {row['measured_us']:9.1f}us" if row["measured_us"] >= 0 else ""
        print(f"{timing}{row['op']:8s} {row['backend']:8s} {row['algorithm'] or '-':16s} {row['layout'] or '-':13s} "
              f"est {est}us{meas}  {row['kernel']:34s} {row['shape']:20s} {row['node']}")
        if args.why and row["candidates"]:
            print(f"{'':10s}why: {row['candidates']}")
    if args.profile:
        print(f"total {sum(r['us'] for r in rows) / 1e3:.3f} ms per run (mean of {args.profile} runs)")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from . import peers
    from .benchmark import compare, markdown_table

    onnx_path = args.model if args.model.endswith(".onnx") else args.onnx
    unknown = [e for e in args.compare if e not in peers.ENGINES]
    if unknown:
        raise Error(f"--compare {unknown[0]}: unknown engine (choose from {', '.join(peers.ENGINES[1:])})")
    if not onnx_path:
        if args.compare:
            raise Error("--compare needs the ONNX model: pass model.onnx, or --onnx PATH")
        return _bench_walle_only(args)
    results = []
    for threads in args.threads:
        results += compare(onnx_path, ["walle", *args.compare], threads, runs=args.runs, warmup=args.warmup)
    print(markdown_table(results))
    missing = [e for e in args.compare if not peers.available(e)]
    if missing:
        print(f"not installed, skipped: {', '.join(missing)}")
    return 0


def _bench_walle_only(args: argparse.Namespace) -> int:
    import statistics
    import time

    from .benchmark import random_inputs
    from .session import load

    for threads in args.threads:
        session = load(args.model, threads=threads)
        feed = random_inputs(session.inputs)
        times = []
        for i in range(args.warmup + args.runs):
            start = time.perf_counter()
            session.run(feed)
            if i >= args.warmup:
                times.append((time.perf_counter() - start) * 1e3)
        print(f"walle  threads {threads}: median {statistics.median(times):.3f} ms over {args.runs} runs")
    return 0


def _delegate(module: str, argv: list[str]) -> int:
    import importlib

    return int(importlib.import_module(module).main(argv) or 0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="walle", description="Walle tensor engine and ML task tools")
    parser.add_argument("--version", action="version", version=f"walle {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("convert", help="convert an ONNX model to a .walle model")
    p.add_argument("model", help="input .onnx file")
    p.add_argument("-o", "--output", help="output .walle file (default: next to the input)")
    p.set_defaults(func=_cmd_convert)

    p = sub.add_parser("run", help="run a model once and summarize its outputs")
    p.add_argument("model")
    p.add_argument("--input", action="append", default=[], metavar="NAME=FILE.npy",
                   help="input array (random data for inputs not given)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--backend", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save", metavar="DIR", help="save each output as DIR/<name>.npy")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("info", help="inputs, outputs, op counts, parameters and MACs of a model")
    p.add_argument("model")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("plan", help="the atomic ops and kernels a session runs (and, with --backend auto, "
                                    "which backend runs each op and why)")
    p.add_argument("model")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--backend", default="cpu", help="cpu, cpu-reference, opencl, vulkan, cuda or auto")
    p.add_argument("--mode", default="estimate", choices=["estimate", "tune"])
    p.add_argument("--why", action="store_true", help="show every backend's cost and variants for each op")
    p.add_argument("--force", action="append", default=[], metavar="KIND=VARIANT",
                   help="run every op of an atomic kind as this variant where offered (Conv=winograd-f43), "
                        "or layout=nchw; repeatable")
    p.add_argument("--profile", type=int, default=0, metavar="RUNS",
                   help="run RUNS times on random inputs and show each kernel's mean time")
    p.set_defaults(func=_cmd_plan)

    p = sub.add_parser("bench", help="median latency, optionally next to onnxruntime")
    p.add_argument("model", help=".walle or .onnx model")
    p.add_argument("--threads", type=int, nargs="+", default=[1])
    p.add_argument("--compare", action="append", default=[], metavar="ENGINE",
                   help="peer engine to run side by side, each in its own process: onnxruntime, mnn, openvino")
    p.add_argument("--onnx", help="the ONNX model a .walle was converted from (for --compare)")
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.set_defaults(func=_cmd_bench)

    for name, module, text in (("task", "walle.vm.cli", "check and run task bundles (walle task --help)"),
                               ("deploy", "walle.deploy.cli", "the deployment service (walle deploy --help)")):
        p = sub.add_parser(name, help=text, add_help=False)
        p.add_argument("rest", nargs=argparse.REMAINDER)
        p.set_defaults(func=lambda a, m=module, n=name: _delegate(m, ([n] if n == "task" else []) + a.rest))
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["task"]:  # walle.vm.cli parses the rest, --help included (REMAINDER cannot)
        return _delegate("walle.vm.cli", argv)
    if argv[:1] == ["deploy"]:  # the deploy CLI parses (and answers --help for) its own args
        return _delegate("walle.deploy.cli", argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except Error as e:
        print(f"walle: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
