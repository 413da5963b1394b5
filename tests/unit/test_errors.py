from tracewise import errors

GRPC_CODES = {
    "INVALID_ARGUMENT",
    "OUT_OF_RANGE",
    "RESOURCE_EXHAUSTED",
    "DEADLINE_EXCEEDED",
    "UNAVAILABLE",
    "INTERNAL",
}


def test_every_error_has_a_grpc_code_and_a_safe_message():
    types = errors.all_error_types()
    assert len(types) >= 7
    for cls in types:
        assert cls.grpc_code in GRPC_CODES, cls
        exc = cls("x", 1, "y") if issubclass(cls, errors.InvalidParameter) else cls("something went wrong")
        assert isinstance(exc, errors.TracewiseError)
        assert exc.message and str(exc) == exc.message


def test_invalid_parameter_names_field_and_range():
    exc = errors.InvalidParameter("filter_speckle", 500, "an integer in [0, 128]")
    assert "filter_speckle" in exc.message and "[0, 128]" in exc.message
    assert exc.grpc_code == "INVALID_ARGUMENT"
