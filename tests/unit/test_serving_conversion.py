"""Protocol conversion and the status map: pure functions, no Ray, no sockets."""

import grpc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracewise.errors import InvalidParameter, all_error_types
from tracewise.params import Params
from tracewise_client import Result
from tracewise_client.v1 import vectorize_pb2 as pb
from tracewise_serve import convert
from tracewise_serve.served import Served
from tracewise_serve.status import DeadlineTooShort, Overloaded, Unauthenticated, to_status


def test_params_round_trip():
    p = Params(
        filter_speckle=2, color_precision=7, length_threshold=5.5, hierarchical="cutout", path_precision=1
    )
    assert convert.params_from_pb(convert.params_to_pb(p.to_dict())) == p


def test_objective_from_options():
    opts = pb.Options(style=pb.STYLE_POLYGON, max_svg_bytes=5000, target_ssim=0.95, budget_seconds=2.5)
    o = convert.objective_from_pb(opts)
    assert (o.style, o.max_svg_bytes, o.target_ssim, o.budget_s) == ("polygon", 5000, 0.95, 2.5)
    assert convert.objective_from_pb(pb.Options()).style == "spline"
    with pytest.raises(InvalidParameter, match="budget_s"):
        convert.objective_from_pb(pb.Options(budget_seconds=-1))
    with pytest.raises(convert.UnknownEnum):
        convert.objective_from_pb(pb.Options(style=42))


def test_response_round_trips_through_the_sdk_types():
    result = {
        "method": "search",
        "svg": "<svg/>",
        "params": Params().to_dict(),
        "regions": None,
        "ssim": 0.95,
        "alpha_ssim": None,
        "svg_bytes": 123,
        "paths": 4,
        "seconds": 1.5,
        "evaluations": 40,
        "cap_bytes": 200,
        "cut_short": False,
    }
    served = Served("abc", "auto", result, fallbacks=({"from": "regional", "reason": "timed out"},))
    msg = convert.response_to_pb(served)
    back = Result.from_proto(pb.VectorizeResponse.FromString(msg.SerializeToString()))
    assert back.method_used == "search" and back.method_requested == "auto"
    assert back.params == Params().to_dict() and back.alpha_ssim is None
    assert back.fallbacks == [{"from": "regional", "reason": "timed out"}] and back.request_id == "abc"


def test_every_engine_error_maps_to_its_code():
    for cls in all_error_types():
        exc = cls("f", 1, "x") if issubclass(cls, InvalidParameter) else cls("msg")
        code, message, _ = to_status(exc, "rid")
        assert code == grpc.StatusCode[cls.grpc_code] and message == exc.message


def test_serving_errors_and_catch_all_hide_internals():
    assert to_status(Unauthenticated(), "r")[0] == grpc.StatusCode.UNAUTHENTICATED
    assert to_status(Overloaded("search is saturated"), "r")[0] == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert to_status(DeadlineTooShort("no time"), "r")[0] == grpc.StatusCode.DEADLINE_EXCEEDED
    code, message, _ = to_status(RuntimeError("/secret/path at 10.0.0.1"), "rid42")
    assert code == grpc.StatusCode.INTERNAL and message == "internal error (request rid42)"


def _details(answer):
    from google.rpc import error_details_pb2, status_pb2

    status = status_pb2.Status.FromString(answer.details)
    out = {}
    for any_ in status.details:
        for kind in (error_details_pb2.ErrorInfo, error_details_pb2.BadRequest, error_details_pb2.RetryInfo):
            if any_.Is(kind.DESCRIPTOR):
                msg = kind()
                any_.Unpack(msg)
                out[kind.__name__] = msg
    assert status.code == answer.code.value[0] and status.message == answer.message
    return out


def test_every_error_carries_error_info_with_its_reason_and_request_id():
    from tracewise.errors import ImageTooLarge, InvalidImage

    cases = [
        *[
            (cls("f", 1, "x") if issubclass(cls, InvalidParameter) else cls("msg"))
            for cls in all_error_types()
        ],
        Unauthenticated(),
        Overloaded("search is saturated"),
        DeadlineTooShort("no time"),
        convert.UnknownEnum("options.style", 9),
        RuntimeError("boom"),
    ]
    for exc in cases:
        info = _details(to_status(exc, "rid7"))["ErrorInfo"]
        assert info.domain == "tracewise.v1" and info.metadata["request_id"] == "rid7" and info.reason
    assert _details(to_status(InvalidImage("not a PNG"), "r"))["ErrorInfo"].reason == "INVALID_IMAGE"
    assert _details(to_status(Overloaded("x"), "r"))["ErrorInfo"].reason == "OVERLOADED"
    assert _details(to_status(RuntimeError("x"), "r"))["ErrorInfo"].reason == "INTERNAL"
    # the size limit is RESOURCE_EXHAUSTED, but no retry helps it
    assert "RetryInfo" not in _details(to_status(ImageTooLarge("too big"), "r"))


def test_bad_requests_name_the_field_and_shed_ones_say_when_to_come_back():
    from tracewise.errors import InvalidImage, Unavailable

    bad = _details(to_status(InvalidParameter("options.target_ssim", 2.0, "0..1"), "r"))["BadRequest"]
    (violation,) = bad.field_violations
    assert violation.field == "options.target_ssim" and "0..1" in violation.description
    assert _details(to_status(InvalidImage("x"), "r"))["BadRequest"].field_violations[0].field == "image"
    enum = _details(to_status(convert.UnknownEnum("options.method", 42), "r"))["BadRequest"]
    assert enum.field_violations[0].field == "options.method"
    shed = _details(to_status(Overloaded("all saturated"), "r", retry_after_s=0.75))["RetryInfo"]
    assert shed.retry_delay.ToMilliseconds() == 750
    down = _details(to_status(Unavailable("every method failed"), "r"))["RetryInfo"]
    assert down.retry_delay.ToMilliseconds() > 0


def test_typed_errors_cross_a_process_boundary_as_themselves():
    import pickle

    from tracewise.errors import InvalidImage

    exc = pickle.loads(pickle.dumps(InvalidParameter("options.max_colors", 0, "1..256")))
    assert type(exc) is InvalidParameter and exc.field == "options.max_colors" and exc.allowed == "1..256"
    assert exc.message == "options.max_colors=0 is invalid: expected 1..256" and str(exc) == exc.message
    assert type(pickle.loads(pickle.dumps(InvalidImage("truncated")))) is InvalidImage


@settings(max_examples=400, deadline=None)
@given(
    method=st.integers(-5, 2**31 - 1),
    style=st.integers(-5, 2**31 - 1),
    max_svg_bytes=st.none() | st.integers(0, 2**64 - 1),
    target_ssim=st.none() | st.floats(allow_nan=True, allow_infinity=True),
    budget=st.none() | st.floats(allow_nan=True, allow_infinity=True),
)
def test_request_validation_fuzz(method, style, max_svg_bytes, target_ssim, budget):
    """Any Options a client can send either converts or maps to INVALID_ARGUMENT / OUT_OF_RANGE."""
    opts = pb.Options(method=method, style=style)
    if max_svg_bytes is not None:
        opts.max_svg_bytes = max_svg_bytes
    if target_ssim is not None:
        opts.target_ssim = target_ssim
    if budget is not None:
        opts.budget_seconds = budget
    try:
        convert.method_from_pb(opts.method)
        objective = convert.objective_from_pb(opts)
    except Exception as exc:  # noqa: BLE001 - what matters is the status it maps to
        code, message, _ = to_status(exc, "r")
        assert code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.OUT_OF_RANGE), (exc, message)
        assert message and "internal" not in message
        return
    assert objective.style in ("spline", "polygon", "pixel")
    assert objective.budget_s is None or 0 < objective.budget_s < 1e6
    assert objective.target_ssim is None or 0 <= objective.target_ssim <= 1


def test_method_enums_are_the_engine_registry():
    from tracewise.methods import METHODS
    from tracewise_client.client import METHOD_NAMES
    from tracewise_client.client import METHODS as SDK_METHODS

    assert set(SDK_METHODS) == {"auto", *METHODS}
    assert set(convert.METHOD_TO_PB) == set(SDK_METHODS)
    assert all(convert.METHOD_TO_PB[m] == SDK_METHODS[m] for m in SDK_METHODS)
    assert METHOD_NAMES[pb.METHOD_UNSPECIFIED] == "auto"


def test_the_sdks_result_has_every_field_the_wire_report_has():
    """A field added to the proto's Report must reach SDK users: Result names every one."""
    import dataclasses

    report = {f.name for f in pb.Report.DESCRIPTOR.fields}
    result = {f.name for f in dataclasses.fields(Result)}
    assert report <= result, report - result
    assert result - report == {"svg"}  # the SVG is beside the report on the wire
