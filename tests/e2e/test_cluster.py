"""Cluster mode: ``tracewise serve --address`` onto a real 3-node Ray cluster on this box (a head
with the ingress, two worker nodes with the method replicas, a Serve proxy on each), a logo through
every node's proxy, the bad-input corpus through a worker's, and a worker node lost under load.

Runs first (marker ``cluster``), before the shared single-node stack starts, and alone on its
cluster: it never touches the embedded Ray of the other e2e tests."""

from __future__ import annotations

import threading
import time
from collections import Counter

import grpc
import pytest

from tests.support.cluster import LocalCluster, serving
from tests.support.corpus import cases
from tracewise_client import Client, TracewiseError
from tracewise_client.v1 import vectorize_pb2 as pb
from tracewise_client.v1 import vectorize_pb2_grpc as pb_grpc

from .test_bad_input import LEAKS

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]
KEY = "cluster-key"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with LocalCluster(tmp_path_factory.mktemp("cluster"), workers=2) as c:
        yield c


@pytest.fixture(scope="module")
def deployed(cluster):
    with serving(cluster, api_keys=KEY):
        yield cluster


def test_every_nodes_proxy_serves_and_methods_run_on_worker_nodes(deployed, dev_logos):
    ids = deployed.node_ids()
    workers = {ids["worker-1"], ids["worker-2"]}
    served_by = Counter()
    for node in deployed.nodes:
        with Client(node.grpc, api_key=KEY, timeout=60) as c:
            for logo in dev_logos[:4]:
                r = c.vectorize(logo.png.read_bytes(), method="mapping")
                assert r.method_used == "mapping" and r.svg.startswith("<svg")
                served_by[r.node_id] += 1
    assert set(served_by) <= workers, f"a method ran off the worker nodes: {served_by} vs {ids}"
    assert ids["head"] not in served_by


def test_the_bad_input_corpus_through_a_worker_nodes_proxy(deployed):
    options = [("grpc.max_send_message_length", 64 << 20), ("grpc.max_receive_message_length", 64 << 20)]
    with grpc.insecure_channel(deployed.worker(1).grpc, options=options) as ch:
        stub = pb_grpc.VectorizeServiceStub(ch)
        for case in cases():
            md = [("authorization", f"Bearer {KEY}")]
            if case.timeout is not None:
                md.append(("x-tracewise-timeout", f"{case.timeout:.3f}"))
            request = pb.VectorizeRequest(image=case.image, options=pb.Options(**case.options))
            try:
                stub.Vectorize(request, timeout=60, metadata=md)
                code, message = "OK", ""
            except grpc.RpcError as exc:
                code, message = exc.code().name, exc.details() or ""
            assert code in case.expect, (case.name, code, message)
            assert not LEAKS.search(message), (case.name, message)
    with Client(deployed.worker(1).grpc, api_key=KEY, timeout=30) as c:
        assert c.health() == "SERVING"
    # the keys given to `tracewise serve --address` reached the cluster's replicas
    with Client(deployed.worker(2).grpc, timeout=30) as c, pytest.raises(TracewiseError) as info:
        c.vectorize(cases()[0].image)
    assert info.value.code == "UNAUTHENTICATED"


def test_a_worker_node_lost_under_load_loses_no_request(deployed, dev_logos):
    """SIGKILL to a whole worker node (raylet, agents, replicas, its proxy) while clients send
    through every proxy; Serve starts the lost replicas on the surviving node; the SDK retries
    what was in flight. (bench/faults.py --node-loss measures the same at length.)"""
    addresses = [n.grpc for n in deployed.nodes]
    answers: Counter = Counter()
    stop = threading.Event()
    pictures = [lg.png.read_bytes() for lg in dev_logos[:20]]

    def send(k: int) -> None:
        with Client(addresses, api_key=KEY, timeout=60) as c:
            i = k
            while not stop.is_set():
                try:
                    picture = pictures[i % len(pictures)]
                    r = c.vectorize(picture, method="mapping", budget_seconds=5 + i * 1e-3)
                    answers["OK"] += 1
                    answers[f"method {r.method_used}"] += 1
                    answers[f"node {r.node_id}"] += 1
                except TracewiseError as exc:
                    answers[exc.code] += 1
                i += 3

    senders = [threading.Thread(target=send, args=(k,), daemon=True) for k in range(3)]
    for t in senders:
        t.start()
    ids = deployed.node_ids()
    time.sleep(5)
    before = answers["OK"]
    # lose the worker holding the most mapping replicas (Serve placed them; either may)
    victim = max(
        (deployed.worker(1), deployed.worker(2)), key=lambda n: deployed.replicas_on(n)["method-mapping"]
    )
    survivor = deployed.worker(2) if victim is deployed.worker(1) else deployed.worker(1)
    assert answers[f"node {ids[victim.name]}"] > 0, f"no answer from the node to lose: {answers}"
    deployed.kill(victim)
    lost_at = time.monotonic()
    # the service answers through the survivors at once and goes on answering
    time.sleep(30)
    stop.set()
    for t in senders:
        t.join(90)
    print(dict(answers))
    failed = sum(v for k, v in answers.items() if k != "OK" and not k.startswith(("method ", "node ")))
    assert answers["OK"] > before and failed <= 0.01 * (answers["OK"] + failed), answers
    with Client(deployed.head.grpc, api_key=KEY, timeout=60) as c:
        assert c.health() == "SERVING"
        r = c.vectorize(pictures[0], method="mapping", budget_seconds=7)
        assert r.node_id == deployed.node_ids()[survivor.name]  # the survivor serves
    assert time.monotonic() - lost_at < 150
