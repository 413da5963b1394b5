"""What the service returns is an SVG with only what VTracer emits: <svg>, <path>, <g> (VTracer
1.0 groups paths of one colour; regional compositions translate parts); no scripts, no foreign
elements, no external references."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from tracewise import engine
from tracewise.objective import Objective

SVG_NS = "{http://www.w3.org/2000/svg}"
ALLOWED = {
    "svg": {"width", "height", "viewBox", "version"},
    "path": {"d", "fill", "transform"},
    "g": {"transform", "fill"},
}
PATH_DATA = re.compile(r"^[MmLlCcQqSsTtZzHhVv0-9 .,eE+-]*$")
TRANSLATE = re.compile(r"^translate\(-?[\d.]+(e-?\d+)?,-?[\d.]+(e-?\d+)?\)$")
COLOUR = re.compile(r"^#[0-9a-fA-F]{3}([0-9a-fA-F]{3})?$")


def check_svg(svg: str) -> None:
    assert "<!DOCTYPE" not in svg and "<!ENTITY" not in svg and "<?xml-stylesheet" not in svg
    root = ET.fromstring(svg)
    assert root.tag == SVG_NS + "svg"
    for el in root.iter():
        assert el.tag.startswith(SVG_NS), f"foreign element {el.tag}"
        name = el.tag[len(SVG_NS) :]
        assert name in ALLOWED, f"unexpected element <{name}>"
        assert set(el.attrib) <= ALLOWED[name], f"<{name}> has {set(el.attrib) - ALLOWED[name]}"
        assert not (el.text or "").strip(), f"text inside <{name}>"
        if "d" in el.attrib:
            assert PATH_DATA.match(el.attrib["d"]), el.attrib["d"][:80]
        if "transform" in el.attrib:
            assert TRANSLATE.match(el.attrib["transform"]), el.attrib["transform"]
        if "fill" in el.attrib:
            assert COLOUR.match(el.attrib["fill"]), el.attrib["fill"]
    lowered = svg.lower()
    for needle in ("script", "href", "url(", "javascript:", "data:", "<foreignobject", " on", "style="):
        assert needle not in lowered, needle


@pytest.mark.parametrize("method, budget", [("default", None), ("mapping", None), ("search", 0.5)])
def test_every_method_returns_only_what_vtracer_emits(dev_logos, method, budget):
    for lg in dev_logos[::16]:
        result = engine.vectorize(lg.png.read_bytes(), method, Objective(budget_s=budget))
        check_svg(result.svg)


def test_regional_compositions_too(dev_logos):
    wordmarks = [lg for lg in dev_logos if lg.category == "text"][:2]
    results = [engine.vectorize(lg.png.read_bytes(), "regional", Objective(budget_s=3.0)) for lg in wordmarks]
    for r in results:
        check_svg(r.svg)
    assert any(r.regions for r in results), "no composition was checked"


def test_the_checker_rejects_an_injected_script():
    bad = '<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><script>alert(1)</script></svg>'
    with pytest.raises(AssertionError):
        check_svg(bad)
    with pytest.raises(AssertionError):
        check_svg('<svg xmlns="http://www.w3.org/2000/svg"><path d="M0 0" onload="x()"/></svg>')
