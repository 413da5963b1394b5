"""The HTTP API's protocol pieces: query options, and the one HTTP status map with the gRPC details."""

from __future__ import annotations

import pytest

from tracewise.errors import ImageTooLarge, InvalidImage, InvalidParameter, Unavailable
from tracewise_client.v1 import vectorize_pb2 as pb
from tracewise_serve.http_api import BadQuery, error_body, options_from_query
from tracewise_serve.status import Overloaded, Unauthenticated


def test_query_parameters_are_the_proto_options():
    query = [("method", "mapping"), ("style", "POLYGON"), ("budget_seconds", "2.5"),
             ("palette", "#112233,#fff"), ("palette", "#000"), ("max_colors", "4")]  # fmt: skip
    o = options_from_query(query)
    assert o.method == pb.METHOD_MAPPING and o.style == pb.STYLE_POLYGON and o.budget_seconds == 2.5
    assert list(o.palette) == ["#112233", "#fff", "#000"] and o.max_colors == 4
    assert options_from_query([("method", "auto")]).method == pb.METHOD_UNSPECIFIED
    assert options_from_query([("style", "3")]).style == pb.STYLE_PIXEL  # the enum's number
    for bad in ([("method", "magic")], [("colour", "red")], [("max_colors", "many")]):
        with pytest.raises(BadQuery):
            options_from_query(bad)


def test_errors_map_to_http_with_the_same_details_as_grpc():
    status, body, headers = error_body(InvalidParameter("target_ssim", 2, "0..1"), "rid", 0.5)
    assert status == 400 and body["reason"] == "INVALID_PARAMETER" and body["request_id"] == "rid"
    assert body["field_violations"][0]["field"] == "target_ssim" and headers["x-request-id"] == "rid"
    assert error_body(InvalidImage("x"), "r", 0.5)[0] == 400
    assert error_body(ImageTooLarge("too many pixels"), "r", 0.5)[0] == 413
    status, body, headers = error_body(Overloaded("all saturated"), "r", 1.6)
    assert status == 429 and headers["retry-after"] == "2" and body["retry_after_seconds"] == 1.6
    status, _, headers = error_body(Unavailable("every method failed"), "r", 0.5)
    assert status == 503 and "retry-after" in headers
    assert error_body(Unauthenticated(), "r", 0.5)[0] == 401
    status, body, _ = error_body(RuntimeError("/secret/path"), "r9", 0.5)
    assert status == 500 and "secret" not in body["message"]
    status, body, _ = error_body(BadQuery("colour", "red", "one of the Options fields"), "r", 0.5)
    assert status == 400 and body["field_violations"][0]["field"] == "colour"
