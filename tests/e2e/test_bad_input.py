"""The bad-input corpus through the real stack: a definite status with a message that names the
problem, never INTERNAL, no internals in the message, and the service healthy afterwards."""

from __future__ import annotations

import re

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.support.corpus import cases, logo, mutations
from tracewise.decode import encode
from tracewise_client.v1 import vectorize_pb2 as pb
from tracewise_client.v1 import vectorize_pb2_grpc as pb_grpc

from .conftest import KEY

pytestmark = pytest.mark.e2e
LEAKS = re.compile(
    r"Traceback|File \"|\.py\b|/home/|/tmp/|/usr/|site-packages|\b\d{1,3}(\.\d{1,3}){3}\b|0x[0-9a-f]{6,}"
)
CASES = cases()


def call(stub, image: bytes, options: dict, timeout: float | None = None) -> tuple[str, str, dict]:
    md = [("authorization", f"Bearer {KEY}")]
    if timeout is not None:
        md.append(("x-tracewise-timeout", f"{timeout:.3f}"))
    try:
        stub.Vectorize(
            pb.VectorizeRequest(image=image, options=pb.Options(**options)), timeout=60, metadata=md
        )
        return "OK", "", {}
    except grpc.RpcError as exc:
        return exc.code().name, exc.details() or "", dict(exc.trailing_metadata() or ())


@pytest.fixture(scope="module")
def stub(service):
    options = [("grpc.max_send_message_length", 64 << 20), ("grpc.max_receive_message_length", 64 << 20)]
    with grpc.insecure_channel(service, options=options) as ch:
        yield pb_grpc.VectorizeServiceStub(ch), health_pb2_grpc.HealthStub(ch)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_corpus_case(stub, case):
    vectorize, _ = stub
    options = {"method": pb.METHOD_DEFAULT, **case.options}
    code, details, trailers = call(vectorize, case.image, options, case.timeout)
    assert code in case.expect, f"{case.name}: {code} {details}"
    if code != "OK":
        assert case.word.lower() in details.lower(), details
        assert not LEAKS.search(details), details
        if case.name != "message over the size limit":  # refused by the proxy, before any replica
            assert len(trailers.get("request_id", "")) == 16, trailers


def test_fuzzed_images_get_definite_answers_and_the_service_stays_up(stub, dev_logos):
    vectorize, health = stub

    from PIL import Image

    seeds = [lg.png.read_bytes() for lg in dev_logos[:4]]
    seeds.append(encode(Image.fromarray(logo(32)).convert("RGB"), "JPEG"))
    outcomes: dict[str, int] = {}
    for data in mutations(seeds, 40, seed=11):
        code, details, _ = call(vectorize, data, {"method": pb.METHOD_DEFAULT})
        outcomes[code] = outcomes.get(code, 0) + 1
        assert code in ("OK", "INVALID_ARGUMENT", "RESOURCE_EXHAUSTED"), (code, details)
        assert not LEAKS.search(details), details
    assert sum(outcomes.values()) == 40
    assert (
        health.Check(health_pb2.HealthCheckRequest(), timeout=10).status
        == health_pb2.HealthCheckResponse.SERVING
    )


STREAMED = [
    c for c in CASES if c.name in ("empty payload", "random bytes (16)", "truncated png (half)", "text file")
]


@pytest.mark.parametrize("case", STREAMED, ids=[c.name for c in STREAMED])
def test_streams_answer_bad_input_with_its_status_too(stub, case):
    """Ray's proxy carries a streaming handler's status only with a message: the stream must still
    end with the case's status, message and request id (it used to end OK, with no message)."""
    vectorize, _ = stub
    call = vectorize.VectorizeStream(
        pb.VectorizeStreamRequest(
            image=case.image, options=pb.Options(method=pb.METHOD_DEFAULT, **case.options)
        ),
        timeout=60,
        metadata=[("authorization", f"Bearer {KEY}")],
    )
    with pytest.raises(grpc.RpcError) as info:
        list(call)
    assert info.value.code().name in case.expect and info.value.code().name != "OK", info.value.details()
    assert case.word.lower() in (info.value.details() or "").lower()
    trailers = dict(info.value.trailing_metadata() or ())
    assert len(trailers.get("request_id", "")) == 16
    from google.rpc import error_details_pb2, status_pb2

    status = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])  # streams carry them too
    infos = [d for d in status.details if d.Is(error_details_pb2.ErrorInfo.DESCRIPTOR)]
    info_msg = error_details_pb2.ErrorInfo()
    infos[0].Unpack(info_msg)
    assert info_msg.domain == "tracewise.v1" and info_msg.metadata["request_id"] == trailers["request_id"]
