"""Bad-input benchmark: the corpus and random mutations of real logos through the real service,
by the unary call and by the stream, then coverage-guided fuzzing of the decoder with atheris.

    python bench/bad_inputs.py [--mutations 400] [--stream-mutations 100] [--atheris-seconds 60]
                               [--markdown out.md]

A stream must end with the same status a unary call gets: an OK stream without its result, or
one that ends OK after an error, counts as ``EMPTY`` (a lost answer).

Reports inputs tried, outcomes by status, INTERNAL/UNKNOWN answers (must be 0), messages that leak
internals (must be 0), whether the service stayed healthy and its replicas were not restarted
(crashes, must be 0), and atheris's run count and crashes.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from loadgen import emit, machine, start_service, stop_service

from tracewise.dataset import logos
from tracewise_client.v1 import vectorize_pb2 as pb
from tracewise_client.v1 import vectorize_pb2_grpc as pb_grpc

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.support.corpus import cases, mutations  # noqa: E402

LEAKS = re.compile(r"Traceback|File \"|\.py\b|/home/|/tmp/|site-packages|\b\d{1,3}(\.\d{1,3}){3}\b")


def replica_names() -> set[str]:
    import ray

    return {
        a["name"] for a in ray.util.list_named_actors(all_namespaces=True) if "SERVE_REPLICA" in a["name"]
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mutations", type=int, default=400)
    ap.add_argument("--stream-mutations", type=int, default=100, help="the first N mutations, streamed")
    ap.add_argument("--atheris-seconds", type=int, default=60)
    ap.add_argument("--markdown", type=Path, default=None)
    a = ap.parse_args(argv)
    seeds = [lg.png.read_bytes() for lg in logos()[::8]]

    target = start_service()
    results: dict[str, Counter] = {
        "corpus": Counter(),
        "mutations": Counter(),
        "corpus, streamed": Counter(),
        "mutations, streamed": Counter(),
    }
    leaks: list[str] = []
    mismatched: list[str] = []
    options = [("grpc.max_send_message_length", 64 << 20)]
    try:
        with grpc.insecure_channel(target, options=options) as ch:
            stub = pb_grpc.VectorizeServiceStub(ch)
            health = health_pb2_grpc.HealthStub(ch)
            before = replica_names()

            def send(
                image: bytes, opts: dict, timeout: float | None, stream: bool = False
            ) -> tuple[str, str]:
                md = [("x-tracewise-timeout", f"{timeout:.3f}")] if timeout else []
                req = pb.VectorizeRequest(image=image, options=pb.Options(**opts))
                try:
                    if not stream:
                        stub.Vectorize(req, timeout=60, metadata=md)
                        return "OK", ""
                    events = [
                        m.WhichOneof("event") for m in stub.VectorizeStream(req, timeout=60, metadata=md)
                    ]
                    # OK must mean an answer: the result, last (an empty message only carries an error)
                    return ("OK", "") if events and events[-1] == "result" else ("EMPTY", f"events {events}")
                except grpc.RpcError as exc:
                    return exc.code().name, exc.details() or ""

            for stream, suffix in ((False, ""), (True, ", streamed")):
                for case in cases():
                    opts = {"method": pb.METHOD_DEFAULT, **case.options}
                    code, details = send(case.image, opts, case.timeout, stream)
                    results["corpus" + suffix][code] += 1
                    if code not in case.expect or case.word.lower() not in details.lower():
                        mismatched.append(f"{case.name}{suffix}: {code} {details}")
                    if LEAKS.search(details):
                        leaks.append(details)
            t = time.monotonic()
            for i, data in enumerate(mutations(seeds, a.mutations, seed=1)):
                for stream, suffix in ((False, ""), (True, ", streamed")):
                    if stream and i >= a.stream_mutations:
                        continue
                    code, details = send(data, {"method": pb.METHOD_DEFAULT}, None, stream)
                    results["mutations" + suffix][code] += 1
                    if LEAKS.search(details):
                        leaks.append(details)
            mutation_s = time.monotonic() - t
            healthy = health.Check(health_pb2.HealthCheckRequest(), timeout=10).status == 1
            restarted = len(before - replica_names())
    finally:
        stop_service()

    fuzz_line = "atheris: skipped"
    if a.atheris_seconds > 0:
        with tempfile.TemporaryDirectory() as tmp:
            for i, s in enumerate(seeds[:10]):
                Path(tmp, f"seed{i}.png").write_bytes(s)
            proc = subprocess.run(
                [
                    sys.executable,
                    str(ROOT / "bench" / "fuzz_decode.py"),
                    f"-max_total_time={a.atheris_seconds}",
                    "-rss_limit_mb=4096",
                    tmp,
                ],
                capture_output=True,
                text=True,
                cwd=tmp,
            )
            runs = re.findall(r"Done (\d+) runs in (\d+) second", proc.stderr)
            crashed = proc.returncode != 0
            fuzz_line = (
                f"atheris on `decode` and `Objective`: {runs[-1][0] if runs else '?'} inputs in "
                f"{runs[-1][1] if runs else '?'} s, crashes: {1 if crashed else 0}"
            )
            if crashed:
                fuzz_line += "\n\n```\n" + proc.stderr[-2000:] + "\n```"

    lines = [
        f"Measured {time.strftime('%Y-%m-%d %H:%M')} UTC on {machine()}.",
        "",
        "| set | inputs | outcomes by status | INTERNAL/UNKNOWN/EMPTY |",
        "|---|---|---|---|",
    ]
    for name, counts in results.items():
        bad = counts["INTERNAL"] + counts["UNKNOWN"] + counts["EMPTY"]
        lines.append(f"| {name} | {sum(counts.values())} | {dict(sorted(counts.items()))} | {bad} |")
    lines += [
        "",
        f"Mutations: {a.mutations} (the first {min(a.stream_mutations, a.mutations)} streamed too) in "
        f"{mutation_s:.1f} s. Corpus cases not answered as expected: "
        f"{len(mismatched)}. Messages leaking internals: {len(leaks)}. Service healthy afterwards: "
        f"{healthy}; replicas restarted (crashes): {restarted}.",
        "",
        fuzz_line,
    ]
    lines += [f"- mismatch: {m}" for m in mismatched] + [f"- leak: {x}" for x in leaks[:5]]
    emit(lines, a.markdown)
    lost = sum(c["INTERNAL"] + c["UNKNOWN"] + c["EMPTY"] for c in results.values())
    return 0 if not (mismatched or leaks or restarted or lost or not healthy) else 1


if __name__ == "__main__":
    sys.exit(main())
