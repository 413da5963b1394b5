import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracewise.errors import InvalidParameter
from tracewise.params import DIM, RANGES, SEARCH_BOX, Params, from_vector, to_vector, validate


def test_defaults_are_vtracers_own_written_with_optimize_2():
    p = validate(Params())
    assert p.path_precision == 2 and p.mode == "spline" and p.optimize == 2
    assert p.simplify == 0 and p.max_colors == 0 and p.palette == ()


@pytest.mark.parametrize(
    "field,value",
    [
        ("filter_speckle", 129),
        ("color_precision", 0),
        ("corner_threshold", -1),
        ("length_threshold", 3.0),
        ("path_precision", 9),
        ("mode", "bezier"),
        ("hierarchical", "flat"),
        ("max_iterations", 2.5),
        ("splice_threshold", True),
    ],
)
def test_out_of_range_names_field_and_range(field, value):
    with pytest.raises(InvalidParameter) as info:
        Params.from_dict({field: value})
    assert info.value.field == field
    assert field in info.value.message


def test_unknown_field_rejected():
    with pytest.raises(InvalidParameter, match="bogus"):
        Params.from_dict({"bogus": 1})


def test_style_maps_to_mode():
    assert Params().with_style("pixel").mode == "none"
    with pytest.raises(InvalidParameter, match="style"):
        Params().with_style("sketchy")


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(RANGES)), st.one_of(st.integers(-1000, 1000), st.floats(allow_nan=True)))
def test_validation_property(field, value):
    lo, hi = RANGES[field]
    try:
        p = Params.from_dict({field: value})
    except InvalidParameter as exc:
        assert exc.field == field
        return
    assert lo <= getattr(p, field) <= hi


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-0.5, 1.5), min_size=DIM, max_size=DIM))
def test_vectors_always_decode_to_valid_params_in_the_box(v):
    p = from_vector(np.array(v))
    validate(p)
    for name, (lo, hi) in SEARCH_BOX.items():
        assert lo <= getattr(p, name) <= hi
    assert np.allclose(to_vector(from_vector(to_vector(p))), to_vector(p))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(st.text(max_size=9), st.from_regex(r"#?[0-9a-fA-F]{3}|#?[0-9a-fA-F]{6}", fullmatch=True))
    )
)
def test_palette_validation_property(colours):
    from tracewise.params import MAX_PALETTE, normalise_palette

    try:
        out = normalise_palette(colours)
    except InvalidParameter as exc:
        assert exc.field == "palette"
        return
    assert len(out) <= MAX_PALETTE and len(set(out)) == len(out)
    assert all(len(c) == 7 and c == c.lower() and c.startswith("#") for c in out)
    assert validate(Params(palette=out)).palette == out


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.integers(-1000, 1000), st.floats(allow_nan=True), st.booleans()))
def test_max_colors_validation_property(value):
    from tracewise.objective import Objective

    try:
        o = Objective(max_colors=value)
    except InvalidParameter as exc:
        assert exc.field == "max_colors"
        return
    assert 1 <= o.max_colors <= 256 and not isinstance(value, bool)


def test_palette_and_colours_are_named_in_errors():
    from tracewise.objective import Objective

    for kw, field in (
        ({"palette": ("red",)}, "palette"),
        ({"palette": "#fff"}, "palette"),
        ({"max_colors": 0}, "max_colors"),
    ):
        with pytest.raises(InvalidParameter) as info:
            Objective(**kw)
        assert info.value.field == field and field in info.value.message
    with pytest.raises(InvalidParameter, match="at most 64"):
        Objective(palette=tuple(f"#{i:06x}" for i in range(65)))
    o = Objective(palette=("#ABC", "0a66c2"), max_colors=4)
    assert o.palette == ("#aabbcc", "#0a66c2") and o.params(Params()).palette == o.palette
    assert o.params(Params()).max_colors == 4
