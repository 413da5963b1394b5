"""``tracewise`` command line: convert images, run the quality benchmark.

    tracewise convert IN -o OUT.svg [--method default|mapping|search|regional|auto]
                     [--style spline|polygon|pixel] [--budget S] [--max-bytes N]
                     [--target-ssim X] [--max-colors N] [--palette '#rrggbb,...'] [--json]
                     [--server HOST:PORT]   (through a running service, with the SDK)
    tracewise route IN [--budget S] [--json]
    tracewise router retrain --db results.db
    tracewise serve [--address RAY] [--port 9000] [--colocated N]
    tracewise bench ...   (same as python bench/quality.py)

Errors print one line on stderr and exit 2 (bad input) or 1 (anything else).

The composition package: it puts the engine (``tracewise``), the service (``tracewise_serve``) and
the SDK (``tracewise_client``) behind one command, so the engine itself imports neither Ray nor
the SDK (a test checks).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from tracewise import engine
from tracewise.decode import DEFAULT_MAX_PIXELS
from tracewise.errors import InvalidRequest, TracewiseError
from tracewise.objective import Objective
from tracewise.params import STYLES


class ProgressBar:
    """A one-line progress bar on stderr, shown only on a terminal and after the first second."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.start = time.monotonic()
        self.drawn = False

    def __call__(self, stage: str, score: float, fraction: float) -> None:
        if not self.enabled or time.monotonic() - self.start < 1.0:
            return
        width = 30
        filled = int(width * fraction)
        sys.stderr.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {fraction:4.0%} best {score:.4f} {stage:24s}"
        )
        sys.stderr.flush()
        self.drawn = True

    def close(self) -> None:
        if self.drawn:
            sys.stderr.write("\n")


def _convert_remote(a: argparse.Namespace, data: bytes) -> int:
    """Convert through a running service with the SDK (streamed, so progress can be shown)."""
    from tracewise_client import Client, TracewiseError

    bar = ProgressBar(sys.stderr.isatty() and not a.quiet)
    options = {
        "method": a.method,
        "style": a.style,
        "max_svg_bytes": a.max_bytes,
        "target_ssim": a.target_ssim,
        "budget_seconds": a.budget,
        "max_colors": a.max_colors,
        "palette": _palette(a.palette),
    }
    try:
        with Client(a.server, api_key=a.api_key, timeout=a.timeout, secure=a.tls) as client:
            r = client.vectorize_stream(
                data, on_progress=lambda p: bar(p.stage, p.best_score, p.fraction), **options
            )
    except TracewiseError as exc:
        bar.close()
        print(f"tracewise: {exc.code}: {exc.message}", file=sys.stderr)
        return 2 if exc.code in ("INVALID_ARGUMENT", "OUT_OF_RANGE") else 1
    bar.close()
    report = {
        "method": r.method_used,
        "method_requested": r.method_requested,
        "params": r.params,
        "regions": r.regions or None,
        "ssim": r.ssim,
        "alpha_ssim": r.alpha_ssim,
        "svg_bytes": r.svg_bytes,
        "paths": r.paths,
        "seconds": r.seconds,
        "evaluations": r.evaluations,
        "cap_bytes": r.cap_bytes,
        "cut_short": r.cut_short,
        "fallbacks": r.fallbacks,
        "request_id": r.request_id,
        "defaults_ssim": r.defaults_ssim,
        "defaults_svg_bytes": r.defaults_svg_bytes,
        "unconstrained_ssim": r.unconstrained_ssim,
        "notes": r.notes,
    }
    _emit(a, r.svg, report)
    return 0


def _emit(a: argparse.Namespace, svg: str, report: dict) -> None:
    if a.output:
        Path(a.output).write_text(svg)
    elif not a.json:
        sys.stdout.write(svg + "\n")
    if a.json:
        print(json.dumps(report))


def _retrain(a: argparse.Namespace) -> int:
    from importlib import resources

    from tracewise.training.router import retrain

    out = a.out or Path(str(resources.files("tracewise") / "models"))
    retrain(a.db, a.runs, out)
    return 0


def _route(a: argparse.Namespace) -> int:
    from tracewise.decode import decode

    data = Path(a.input).read_bytes() if a.input != "-" else sys.stdin.buffer.read()
    t = time.perf_counter()
    picture = decode(data, a.max_pixels)
    objective = _objective(a)
    decision = engine.route(picture, objective)
    report = {
        "method": decision.method,
        "arm": decision.arm,
        "budget_s": decision.budget_s,
        "logo_type": decision.logo_type,
        "confidence": round(decision.confidence, 4),
        "probabilities": decision.probabilities,
        "degraded": decision.degraded,
        "reasons": decision.reasons,
        "model_version": decision.model_version,
        "decision_ms": round(decision.seconds * 1000, 3),
        "total_ms": round((time.perf_counter() - t) * 1000, 3),
    }
    if a.json:
        print(json.dumps(report))
    else:
        print(
            f"{report['arm']} (confidence {report['confidence']:.2f}, logo type {report['logo_type']}, "
            f"{report['decision_ms']:.1f} ms)"
        )
    return 0


def _palette(text: str | None) -> list[str]:
    return [c for c in (text or "").replace(" ", ",").split(",") if c]


def _objective(a: argparse.Namespace) -> Objective:
    """The request's options from ``convert``'s and ``route``'s flags (the same names)."""
    return Objective(
        style=a.style,
        max_svg_bytes=a.max_bytes,
        target_ssim=a.target_ssim,
        budget_s=a.budget,
        max_colors=a.max_colors,
        palette=tuple(_palette(a.palette)),
    )


def _batch(a: argparse.Namespace) -> bool:
    """Many inputs, a folder among them, or a folder as the output: the batch command."""
    out = a.output or ""
    many = len(a.input) > 1 or any(Path(i).is_dir() for i in a.input)
    return many or out.endswith("/") or (bool(out) and Path(out).is_dir())


def _convert(a: argparse.Namespace) -> int:
    if _batch(a):
        from .batch import run

        if "-" in a.input:
            print("tracewise: stdin (-) converts one image, not in a batch", file=sys.stderr)
            return 2
        options = {"method": a.method, "style": a.style, "max_svg_bytes": a.max_bytes,
                   "target_ssim": a.target_ssim, "budget_seconds": a.budget, "max_colors": a.max_colors,
                   "palette": _palette(a.palette)}  # fmt: skip
        return run(a, _objective(a), options)
    a.input = a.input[0]
    data = Path(a.input).read_bytes() if a.input != "-" else sys.stdin.buffer.read()
    if a.server:
        return _convert_remote(a, data)
    objective = _objective(a)
    bar = ProgressBar(sys.stderr.isatty() and not a.quiet)
    try:
        result = engine.vectorize(data, a.method, objective, max_pixels=a.max_pixels, progress=bar)
    finally:
        bar.close()
    _emit(a, result.svg, result.to_dict())
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="tracewise", description="Raster logos to compact, faithful SVG.")
    sub = ap.add_subparsers(dest="command", required=True)

    c = sub.add_parser("convert", help="vectorise images: one file, or files and folders into -o DIR/")
    c.add_argument("input", nargs="+", help="PNG/JPEG/WebP/GIF files or folders, or - for stdin")
    c.add_argument("-o", "--output", help="the SVG (default: stdout unless --json); a folder for many inputs")
    c.add_argument("--jobs", type=int, default=None, help="many inputs: worker processes, or calls in flight")
    c.add_argument("--force", action="store_true", help="many inputs: overwrite existing SVGs")
    c.add_argument("--method", default="auto", choices=engine.CHOICES)
    c.add_argument("--style", default="spline", choices=STYLES)
    c.add_argument("--budget", type=float, default=None, help="seconds (default: the method's own)")
    c.add_argument(
        "--max-bytes", type=int, default=None, help="SVG size cap (default: VTracer defaults' size)"
    )
    c.add_argument("--target-ssim", type=float, default=None, help="smallest SVG reaching this SSIM")
    c.add_argument("--max-colors", type=int, default=None, help="at most this many colours (1..256)")
    c.add_argument(
        "--palette", default=None, help="snap colours to these, e.g. '#0a66c2,#ffffff' (at most 64)"
    )
    c.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, help="refuse larger pictures")
    c.add_argument("--json", action="store_true", help="print the report as one JSON object")
    c.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    c.add_argument("--server", help="HOST:PORT of a running service (default: convert in-process)")
    c.add_argument("--api-key", default=None, help="with --server: the API key, if the service needs one")
    c.add_argument("--timeout", type=float, default=120.0, help="with --server: the deadline in seconds")
    c.add_argument("--tls", action="store_true", help="with --server: TLS (a terminating ingress in front)")
    c.set_defaults(func=_convert)

    r = sub.add_parser("route", help="which method auto would use for an image")
    r.add_argument("input")
    r.add_argument("--budget", type=float, default=None, help="seconds (default: 5, as auto assumes)")
    r.add_argument("--style", default="spline", choices=STYLES)
    r.add_argument("--max-bytes", type=int, default=None, help="the request's SVG size cap")
    r.add_argument("--target-ssim", type=float, default=None, help="the request's quality target")
    r.add_argument("--max-colors", type=int, default=None, help="the request's colour limit")
    r.add_argument("--palette", default=None, help="the request's palette, e.g. '#0a66c2,#ffffff'")
    r.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS)
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=_route)

    rt = sub.add_parser("router", help="router model maintenance")
    rsub = rt.add_subparsers(dest="router_command", required=True)
    re_ = rsub.add_parser("retrain", help="retrain from the results store; keeps the better model")
    re_.add_argument("--db", type=Path, required=True)
    re_.add_argument("--runs", type=Path, default=Path("data/router_runs.csv"), help="the shipped runs")
    re_.add_argument("--out", type=Path, default=None, help="model folder (default: the package's)")
    re_.set_defaults(func=_retrain)

    h = sub.add_parser("health", help="exit 0 when a running service answers SERVING (grpc.health.v1)")
    h.add_argument("--server", default="127.0.0.1:9000", help="HOST:PORT (default 127.0.0.1:9000)")
    h.add_argument("--service", default="", help="service name to check (default: the whole server)")
    h.add_argument("--timeout", type=float, default=5.0)
    h.add_argument("--tls", action="store_true", help="TLS (a terminating ingress in front)")
    h.set_defaults(func=_health)

    sub.add_parser("bench", help="the quality benchmark (as bench/quality.py); --help for options")

    sub.add_parser("serve", help="run the gRPC service on Ray Serve (starts a local Ray); --help for options")
    sub.add_parser("report", help="HTML analytics from the results store: --db results.db -o report.html")
    sub.add_parser("backup", help="archive the results store and router models: -o FILE --db DB --models")
    sub.add_parser("store", help="`store serve --db DB`: the results store over HTTP, for a cluster")
    sub.add_parser(
        "restore", help="restore a backup (every file's hash checked first): FILE --db DB --models"
    )

    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in PASSTHROUGH:  # their own parsers take every option that follows
        return PASSTHROUGH[args[0]](args[1:])
    a = ap.parse_args(args)
    try:
        return int(a.func(a))
    except InvalidRequest as exc:
        print(f"tracewise: {exc.message}", file=sys.stderr)
        return 2
    except TracewiseError as exc:
        print(f"tracewise: {exc.message}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"tracewise: {exc.strerror or exc}: {getattr(exc, 'filename', '')}", file=sys.stderr)
        return 1


def _health(a: argparse.Namespace) -> int:
    from tracewise_client import Client
    from tracewise_client import TracewiseError as CallFailed

    with Client(a.server, timeout=a.timeout, secure=a.tls) as client:
        try:
            status = client.health(a.service, timeout=a.timeout)
        except CallFailed as exc:
            print(f"tracewise: {a.server}: {exc.code}: {exc.message}", file=sys.stderr)
            return 1
    print(status)
    return 0 if status == "SERVING" else 1


def _serve(rest: list[str]) -> int:
    # The serving layer sits above the engine; imported only for this command.
    from tracewise_serve.local import main as serve_main

    return serve_main(rest)


def _bench(rest: list[str]) -> int:
    from tracewise.benchmark import main as bench_main

    return bench_main(rest)


def _report(rest: list[str]) -> int:
    from tracewise.report import main as report_main

    return report_main(rest)


def _backup(rest: list[str]) -> int:
    from tracewise.backup import main as backup_main

    return backup_main(rest, "backup")


def _restore(rest: list[str]) -> int:
    from tracewise.backup import main as backup_main

    return backup_main(rest, "restore")


def _store(rest: list[str]) -> int:
    from tracewise.store_server import main as store_main

    if rest[:1] != ["serve"]:
        print("usage: tracewise store serve --db DB [--host H] [--port P]", file=sys.stderr)
        return 2
    return store_main(rest[1:])


PASSTHROUGH = {
    "serve": _serve,
    "bench": _bench,
    "report": _report,
    "backup": _backup,
    "restore": _restore,
    "store": _store,
}

if __name__ == "__main__":
    raise SystemExit(main())
