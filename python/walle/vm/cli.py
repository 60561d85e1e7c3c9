"""``walle task run BUNDLE [--input name=file.npy]`` and ``walle task check BUNDLE``.

:func:`main` accepts its arguments with or without the leading ``task`` word, so the
``walle`` CLI can forward either ``argv[1:]`` or ``argv[2:]``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .context import DEFAULT_LOADER
from .errors import BundleError, VMError

EXIT_OK, EXIT_TASK_FAILED, EXIT_BAD_BUNDLE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="walle task", description="Check or run a Walle task bundle.")
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser(
        "check",
        help="validate a bundle and list every problem",
        description="Validate task.toml, then, in a sandboxed process (memory and CPU limits), "
        "import the entry, check that it can be called as entry(ctx, inputs) and load every model.",
    )
    check.add_argument("bundle", help="bundle directory, .zip or .tar.gz")
    check.add_argument("--model-loader", default=DEFAULT_LOADER, metavar="MODULE:FUNCTION",
                       help=f"loads each [models] entry (default {DEFAULT_LOADER})")
    run = sub.add_parser("run", help="run a task once and print its outputs")
    run.add_argument("bundle", help="bundle directory, .zip or .tar.gz")
    run.add_argument(
        "--input",
        "-i",
        action="append",
        default=[],
        metavar="NAME=FILE",
        help="an input: FILE.npy (numpy array), or a JSON literal (repeatable)",
    )
    run.add_argument("--mode", choices=("thread", "interpreter", "process"), default="thread")
    run.add_argument("--timeout", type=float, default=None, help="seconds to wait for the run")
    run.add_argument("--output-dir", type=Path, default=None, help="save array outputs as NAME.npy here")
    return parser


def _read_input(spec: str) -> tuple[str, Any]:
    name, sep, value = spec.partition("=")
    if not sep or not name:
        raise ValueError(f"--input must be NAME=FILE, got {spec!r}")
    if value.endswith(".npy"):
        import numpy as np

        return name, np.load(value, allow_pickle=False)
    try:
        return name, json.loads(value)
    except json.JSONDecodeError:
        return name, value  # a plain string


def _describe(value: Any) -> Any:
    """JSON-friendly view of an output: small arrays in full, large ones summarised."""
    if isinstance(value, dict):
        return {str(k): _describe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_describe(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    try:
        view = memoryview(value)
    except TypeError:
        return repr(value)
    info: dict[str, Any] = {"shape": list(view.shape or ()), "format": view.format}
    if view.nbytes <= 256:
        info["values"] = value.tolist() if hasattr(value, "tolist") else view.tolist()
    return info


def _save_arrays(outputs: Any, directory: Path) -> None:
    import numpy as np

    directory.mkdir(parents=True, exist_ok=True)
    if isinstance(outputs, dict):
        for name, value in outputs.items():
            try:
                np.save(directory / f"{name}.npy", np.asarray(memoryview(value)))
            except TypeError:
                continue


def _check(bundle_path: str, loader: str) -> int:
    from .bundle import load_bundle
    from .checker import check_in_sandbox

    try:
        bundle = load_bundle(bundle_path)
    except BundleError as exc:
        print(exc, file=sys.stderr)
        return EXIT_BAD_BUNDLE
    problems = check_in_sandbox(bundle, loader)
    if problems:
        print(BundleError(bundle_path, problems), file=sys.stderr)
        return EXIT_BAD_BUNDLE
    info = bundle.manifest_info
    print(
        f"ok: {bundle.name} {bundle.version} (entry {bundle.entry}; "
        f"{len(info.models)} model(s), {len(info.resources)} resource(s))"
    )
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    from .runner import Runner

    try:
        inputs = dict(_read_input(spec) for spec in args.input)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_BUNDLE
    try:
        with Runner(workers=1, mode=args.mode, warm_interpreters=0) as runner:  # one task, no spares
            name = runner.load(args.bundle)
            future = runner.submit(name, inputs)
            try:
                outputs = future.result(args.timeout)
            finally:  # what the task printed (captured per run) goes to stderr: stdout is the JSON
                sys.stderr.write(future.stdout + future.stderr)
    except TimeoutError:
        print(f"error: the run did not finish within {args.timeout}s", file=sys.stderr)
        return EXIT_TASK_FAILED
    except BundleError as exc:
        print(exc, file=sys.stderr)
        return EXIT_BAD_BUNDLE
    except VMError as exc:
        print(f"error: {exc}", file=sys.stderr)
        tb = getattr(exc, "traceback", "")
        if tb:
            print(tb, file=sys.stderr, end="")
        return EXIT_TASK_FAILED
    print(json.dumps(_describe(outputs), indent=2))
    if args.output_dir is not None:
        _save_arrays(outputs, args.output_dir)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code (0 ok, 1 task failed, 2 bad bundle/usage)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["task"]:
        args_list = args_list[1:]
    args = _parser().parse_args(args_list)
    if args.command == "check":
        return _check(args.bundle, args.model_loader)
    return _run(args)
