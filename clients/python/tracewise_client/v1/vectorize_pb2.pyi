from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Method(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    METHOD_UNSPECIFIED: _ClassVar[Method]
    METHOD_DEFAULT: _ClassVar[Method]
    METHOD_MAPPING: _ClassVar[Method]
    METHOD_SEARCH: _ClassVar[Method]
    METHOD_REGIONAL: _ClassVar[Method]

class Style(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STYLE_UNSPECIFIED: _ClassVar[Style]
    STYLE_SPLINE: _ClassVar[Style]
    STYLE_POLYGON: _ClassVar[Style]
    STYLE_PIXEL: _ClassVar[Style]
METHOD_UNSPECIFIED: Method
METHOD_DEFAULT: Method
METHOD_MAPPING: Method
METHOD_SEARCH: Method
METHOD_REGIONAL: Method
STYLE_UNSPECIFIED: Style
STYLE_SPLINE: Style
STYLE_POLYGON: Style
STYLE_PIXEL: Style

class Options(_message.Message):
    __slots__ = ("method", "style", "max_svg_bytes", "target_ssim", "budget_seconds", "max_colors", "palette")
    METHOD_FIELD_NUMBER: _ClassVar[int]
    STYLE_FIELD_NUMBER: _ClassVar[int]
    MAX_SVG_BYTES_FIELD_NUMBER: _ClassVar[int]
    TARGET_SSIM_FIELD_NUMBER: _ClassVar[int]
    BUDGET_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MAX_COLORS_FIELD_NUMBER: _ClassVar[int]
    PALETTE_FIELD_NUMBER: _ClassVar[int]
    method: Method
    style: Style
    max_svg_bytes: int
    target_ssim: float
    budget_seconds: float
    max_colors: int
    palette: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, method: _Optional[_Union[Method, str]] = ..., style: _Optional[_Union[Style, str]] = ..., max_svg_bytes: _Optional[int] = ..., target_ssim: _Optional[float] = ..., budget_seconds: _Optional[float] = ..., max_colors: _Optional[int] = ..., palette: _Optional[_Iterable[str]] = ...) -> None: ...

class VectorizeRequest(_message.Message):
    __slots__ = ("image", "options")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    image: bytes
    options: Options
    def __init__(self, image: _Optional[bytes] = ..., options: _Optional[_Union[Options, _Mapping]] = ...) -> None: ...

class VectorizeResponse(_message.Message):
    __slots__ = ("svg", "report")
    SVG_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    svg: str
    report: Report
    def __init__(self, svg: _Optional[str] = ..., report: _Optional[_Union[Report, _Mapping]] = ...) -> None: ...

class Params(_message.Message):
    __slots__ = ("colormode", "hierarchical", "mode", "filter_speckle", "color_precision", "layer_difference", "corner_threshold", "length_threshold", "max_iterations", "splice_threshold", "path_precision", "simplify", "optimize", "max_colors", "palette")
    COLORMODE_FIELD_NUMBER: _ClassVar[int]
    HIERARCHICAL_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    FILTER_SPECKLE_FIELD_NUMBER: _ClassVar[int]
    COLOR_PRECISION_FIELD_NUMBER: _ClassVar[int]
    LAYER_DIFFERENCE_FIELD_NUMBER: _ClassVar[int]
    CORNER_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    LENGTH_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    MAX_ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    SPLICE_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    PATH_PRECISION_FIELD_NUMBER: _ClassVar[int]
    SIMPLIFY_FIELD_NUMBER: _ClassVar[int]
    OPTIMIZE_FIELD_NUMBER: _ClassVar[int]
    MAX_COLORS_FIELD_NUMBER: _ClassVar[int]
    PALETTE_FIELD_NUMBER: _ClassVar[int]
    colormode: str
    hierarchical: str
    mode: str
    filter_speckle: int
    color_precision: int
    layer_difference: int
    corner_threshold: int
    length_threshold: float
    max_iterations: int
    splice_threshold: int
    path_precision: int
    simplify: float
    optimize: int
    max_colors: int
    palette: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, colormode: _Optional[str] = ..., hierarchical: _Optional[str] = ..., mode: _Optional[str] = ..., filter_speckle: _Optional[int] = ..., color_precision: _Optional[int] = ..., layer_difference: _Optional[int] = ..., corner_threshold: _Optional[int] = ..., length_threshold: _Optional[float] = ..., max_iterations: _Optional[int] = ..., splice_threshold: _Optional[int] = ..., path_precision: _Optional[int] = ..., simplify: _Optional[float] = ..., optimize: _Optional[int] = ..., max_colors: _Optional[int] = ..., palette: _Optional[_Iterable[str]] = ...) -> None: ...

class Region(_message.Message):
    __slots__ = ("x", "y", "width", "height", "params")
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    x: int
    y: int
    width: int
    height: int
    params: Params
    def __init__(self, x: _Optional[int] = ..., y: _Optional[int] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., params: _Optional[_Union[Params, _Mapping]] = ...) -> None: ...

class Fallback(_message.Message):
    __slots__ = ("from_method", "reason")
    FROM_METHOD_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    from_method: Method
    reason: str
    def __init__(self, from_method: _Optional[_Union[Method, str]] = ..., reason: _Optional[str] = ...) -> None: ...

class Report(_message.Message):
    __slots__ = ("method_requested", "method_used", "params", "regions", "ssim", "alpha_ssim", "svg_bytes", "paths", "seconds", "evaluations", "cap_bytes", "cut_short", "fallbacks", "request_id", "confidence", "logo_type", "degraded", "cached", "defaults_ssim", "defaults_svg_bytes", "unconstrained_ssim", "notes", "node_id")
    METHOD_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    METHOD_USED_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    REGIONS_FIELD_NUMBER: _ClassVar[int]
    SSIM_FIELD_NUMBER: _ClassVar[int]
    ALPHA_SSIM_FIELD_NUMBER: _ClassVar[int]
    SVG_BYTES_FIELD_NUMBER: _ClassVar[int]
    PATHS_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    EVALUATIONS_FIELD_NUMBER: _ClassVar[int]
    CAP_BYTES_FIELD_NUMBER: _ClassVar[int]
    CUT_SHORT_FIELD_NUMBER: _ClassVar[int]
    FALLBACKS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    LOGO_TYPE_FIELD_NUMBER: _ClassVar[int]
    DEGRADED_FIELD_NUMBER: _ClassVar[int]
    CACHED_FIELD_NUMBER: _ClassVar[int]
    DEFAULTS_SSIM_FIELD_NUMBER: _ClassVar[int]
    DEFAULTS_SVG_BYTES_FIELD_NUMBER: _ClassVar[int]
    UNCONSTRAINED_SSIM_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    method_requested: Method
    method_used: Method
    params: Params
    regions: _containers.RepeatedCompositeFieldContainer[Region]
    ssim: float
    alpha_ssim: float
    svg_bytes: int
    paths: int
    seconds: float
    evaluations: int
    cap_bytes: int
    cut_short: bool
    fallbacks: _containers.RepeatedCompositeFieldContainer[Fallback]
    request_id: str
    confidence: float
    logo_type: str
    degraded: bool
    cached: bool
    defaults_ssim: float
    defaults_svg_bytes: int
    unconstrained_ssim: float
    notes: _containers.RepeatedScalarFieldContainer[str]
    node_id: str
    def __init__(self, method_requested: _Optional[_Union[Method, str]] = ..., method_used: _Optional[_Union[Method, str]] = ..., params: _Optional[_Union[Params, _Mapping]] = ..., regions: _Optional[_Iterable[_Union[Region, _Mapping]]] = ..., ssim: _Optional[float] = ..., alpha_ssim: _Optional[float] = ..., svg_bytes: _Optional[int] = ..., paths: _Optional[int] = ..., seconds: _Optional[float] = ..., evaluations: _Optional[int] = ..., cap_bytes: _Optional[int] = ..., cut_short: _Optional[bool] = ..., fallbacks: _Optional[_Iterable[_Union[Fallback, _Mapping]]] = ..., request_id: _Optional[str] = ..., confidence: _Optional[float] = ..., logo_type: _Optional[str] = ..., degraded: _Optional[bool] = ..., cached: _Optional[bool] = ..., defaults_ssim: _Optional[float] = ..., defaults_svg_bytes: _Optional[int] = ..., unconstrained_ssim: _Optional[float] = ..., notes: _Optional[_Iterable[str]] = ..., node_id: _Optional[str] = ...) -> None: ...

class VectorizeStreamRequest(_message.Message):
    __slots__ = ("image", "options")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    image: bytes
    options: Options
    def __init__(self, image: _Optional[bytes] = ..., options: _Optional[_Union[Options, _Mapping]] = ...) -> None: ...

class Progress(_message.Message):
    __slots__ = ("stage", "best_score", "fraction")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    BEST_SCORE_FIELD_NUMBER: _ClassVar[int]
    FRACTION_FIELD_NUMBER: _ClassVar[int]
    stage: str
    best_score: float
    fraction: float
    def __init__(self, stage: _Optional[str] = ..., best_score: _Optional[float] = ..., fraction: _Optional[float] = ...) -> None: ...

class VectorizeStreamResponse(_message.Message):
    __slots__ = ("progress", "result")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    progress: Progress
    result: VectorizeResponse
    def __init__(self, progress: _Optional[_Union[Progress, _Mapping]] = ..., result: _Optional[_Union[VectorizeResponse, _Mapping]] = ...) -> None: ...

class RouteRequest(_message.Message):
    __slots__ = ("image", "options")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    image: bytes
    options: Options
    def __init__(self, image: _Optional[bytes] = ..., options: _Optional[_Union[Options, _Mapping]] = ...) -> None: ...

class RouteResponse(_message.Message):
    __slots__ = ("method", "confidence", "logo_type", "model_version", "seconds", "method_budget_seconds")
    METHOD_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    LOGO_TYPE_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    METHOD_BUDGET_SECONDS_FIELD_NUMBER: _ClassVar[int]
    method: Method
    confidence: float
    logo_type: str
    model_version: str
    seconds: float
    method_budget_seconds: float
    def __init__(self, method: _Optional[_Union[Method, str]] = ..., confidence: _Optional[float] = ..., logo_type: _Optional[str] = ..., model_version: _Optional[str] = ..., seconds: _Optional[float] = ..., method_budget_seconds: _Optional[float] = ...) -> None: ...

class GetServiceInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class MethodInfo(_message.Message):
    __slots__ = ("method", "default_budget_seconds", "ready")
    METHOD_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_BUDGET_SECONDS_FIELD_NUMBER: _ClassVar[int]
    READY_FIELD_NUMBER: _ClassVar[int]
    method: Method
    default_budget_seconds: float
    ready: bool
    def __init__(self, method: _Optional[_Union[Method, str]] = ..., default_budget_seconds: _Optional[float] = ..., ready: _Optional[bool] = ...) -> None: ...

class GetServiceInfoResponse(_message.Message):
    __slots__ = ("version", "methods", "max_pixels", "max_request_bytes", "mapping_model_version", "router_model_version")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    METHODS_FIELD_NUMBER: _ClassVar[int]
    MAX_PIXELS_FIELD_NUMBER: _ClassVar[int]
    MAX_REQUEST_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAPPING_MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    ROUTER_MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    version: str
    methods: _containers.RepeatedCompositeFieldContainer[MethodInfo]
    max_pixels: int
    max_request_bytes: int
    mapping_model_version: str
    router_model_version: str
    def __init__(self, version: _Optional[str] = ..., methods: _Optional[_Iterable[_Union[MethodInfo, _Mapping]]] = ..., max_pixels: _Optional[int] = ..., max_request_bytes: _Optional[int] = ..., mapping_model_version: _Optional[str] = ..., router_model_version: _Optional[str] = ...) -> None: ...
