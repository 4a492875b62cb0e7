"""Typed, documented ROS parameters declared from a dataclass.

A dojo node describes its configuration once, as a dataclass whose fields carry a description
(``field(metadata={'description': ...})``), and gets back an instance filled from its ROS
parameters. That keeps the parameter names, types, defaults, ranges and docs (``ros2 param
describe``) in one place, and lets plain Python code and tests build the same config without ROS.

Field metadata:

* ``description`` (required): shown by ``ros2 param describe``. A field without one is a TypeError
  at declaration, so no parameter ships undocumented.
* ``read_only``: the parameter cannot be changed after start-up.
* ``range``: ``(lo, hi)`` inclusive, for int and float fields; enforced by ROS on every set.

Supported field types: bool, int, float, str, list[bool], list[int], list[float], list[str], and
nested dataclasses, whose fields become dotted names (field ``front`` of type ``CameraConfig`` with
a field ``width`` is the parameter ``front.width``; in a params YAML ``front: {width: 640}`` under
``ros__parameters``).

Integers for float fields: rclpy declares every parameter statically typed and rejects an INTEGER
override of a DOUBLE parameter (``InvalidParameterTypeException``; the parameter stays
undeclared), yet ``rate_hz: 30`` is what people write in YAML and on the command line. This module
then reads the override through a dynamically typed probe declaration, undeclares the probe, and
declares the parameter again with the value converted to float (lists of integers likewise). The
ROS parameter keeps its DOUBLE type, so later ``ros2 param set`` calls must use floats.

Empty lists: rcl's YAML parser turns ``[]`` into an unset parameter, and rclpy cannot declare an
empty typed array, so an empty list default or override leaves the ROS parameter declared (with its
type) but unset; the config field is ``[]``.

Errors are raised at start-up: TypeError for a badly defined dataclass or a value of the wrong
type, ValueError for an out-of-range value or one rejected by the dataclass's ``__post_init__``
(the message names the parameter or the dataclass and prefix).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, TypeVar, get_args, get_origin, get_type_hints

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.node import Node
from rclpy.parameter import Parameter

T = TypeVar('T')

_SCALAR_TYPES = {
    bool: Parameter.Type.BOOL,
    int: Parameter.Type.INTEGER,
    float: Parameter.Type.DOUBLE,
    str: Parameter.Type.STRING,
}
_ARRAY_TYPES = {
    bool: Parameter.Type.BOOL_ARRAY,
    int: Parameter.Type.INTEGER_ARRAY,
    float: Parameter.Type.DOUBLE_ARRAY,
    str: Parameter.Type.STRING_ARRAY,
}


@dataclasses.dataclass(frozen=True)
class _Kind:
    """The Python shape of a leaf parameter: its element type and whether it is a list."""

    element: type
    is_list: bool

    @property
    def ros_type(self) -> Parameter.Type:
        return (_ARRAY_TYPES if self.is_list else _SCALAR_TYPES)[self.element]

    def __str__(self) -> str:
        return f'list[{self.element.__name__}]' if self.is_list else self.element.__name__


def declare_parameters(node: Node, config_cls: type[T], prefix: str = '') -> T:
    """Declare one ROS parameter per field of ``config_cls`` and return the filled instance.

    Parameter names are ``<prefix>.<field>`` (or ``<field>`` without a prefix). Overrides from
    params files, launch files and ``-p`` win over the dataclass defaults. Parameters the node has
    already declared (``use_sim_time``, which rclpy declares on every node) are read, not declared
    again.
    """
    return _declare_dataclass(node, config_cls, prefix, None)


def _declare_dataclass(node: Node, cls: type[T], prefix: str, defaults: object | None) -> T:
    """Declare the fields of ``cls`` under ``prefix``; ``defaults`` overrides the field defaults."""
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise TypeError(f'{cls!r} is not a dataclass')
    hints = get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if not f.init:  # derived in __post_init__, not configuration
            continue
        name = f'{prefix}.{f.name}' if prefix else f.name
        hint = hints[f.name]
        default = _field_default(f, defaults)
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            nested_defaults = None if default is dataclasses.MISSING else default
            values[f.name] = _declare_dataclass(node, hint, name, nested_defaults)
            continue
        if default is dataclasses.MISSING:
            raise TypeError(f'{cls.__name__}.{f.name}: a parameter field needs a default')
        kind = _kind_of(cls, f, hint)
        values[f.name] = _declare_leaf(
            node, name, kind, _coerce(name, default, kind), _descriptor(cls, f, name, kind)
        )
    try:
        return cls(**values)
    except ValueError as exc:
        where = f" (parameters under '{prefix}')" if prefix else ''
        raise ValueError(f'invalid {cls.__name__}{where}: {exc}') from exc


def _field_default(f: dataclasses.Field, defaults: object | None) -> Any:
    if defaults is not None:
        return getattr(defaults, f.name)
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def _kind_of(cls: type, f: dataclasses.Field, hint: Any) -> _Kind:
    if get_origin(hint) is list:
        (element,) = get_args(hint)
        if element in _ARRAY_TYPES:
            return _Kind(element, True)
    elif hint in _SCALAR_TYPES:
        return _Kind(hint, False)
    raise TypeError(
        f'{cls.__name__}.{f.name}: unsupported parameter type {hint!r}; use bool, int, float, str, '
        'a list of one of them, or a nested dataclass'
    )


def _descriptor(cls: type, f: dataclasses.Field, name: str, kind: _Kind) -> ParameterDescriptor:
    description = f.metadata.get('description')
    if not isinstance(description, str) or not description.strip():
        raise TypeError(
            f"{cls.__name__}.{f.name}: every parameter needs field(metadata={{'description': ...}})"
        )
    descriptor = ParameterDescriptor(
        name=name,
        type=kind.ros_type.value,
        description=description,
        read_only=bool(f.metadata.get('read_only', False)),
    )
    if 'range' in f.metadata:
        lo, hi = f.metadata['range']
        if kind == _Kind(float, False):
            descriptor.floating_point_range = [
                FloatingPointRange(from_value=float(lo), to_value=float(hi), step=0.0)
            ]
        elif kind == _Kind(int, False):
            descriptor.integer_range = [IntegerRange(from_value=int(lo), to_value=int(hi), step=0)]
        else:
            raise TypeError(
                f'{cls.__name__}.{f.name}: a range applies to int and float fields only'
            )
    return descriptor


def _declare_leaf(
    node: Node, name: str, kind: _Kind, default: Any, descriptor: ParameterDescriptor
) -> Any:
    """Declare (or read, if already declared) one parameter and return its value as ``kind``."""
    if node.has_parameter(name):
        parameter = node.get_parameter(name)
    else:
        parameter = _declare_typed(node, name, kind, default, descriptor)
    if parameter.type_ == Parameter.Type.NOT_SET:
        if kind.is_list:
            return []
        raise TypeError(f"parameter '{name}' ({kind}) is set to an empty value")
    return _coerce(name, parameter.value, kind)


def _declare_typed(
    node: Node, name: str, kind: _Kind, default: Any, descriptor: ParameterDescriptor
) -> Parameter:
    # rclpy infers the parameter type from the default value; an empty list would read as
    # BYTE_ARRAY, so empty defaults are declared by type (and stay unset).
    initial = kind.ros_type if default == [] else default
    try:
        return node.declare_parameter(name, initial, descriptor)
    except InvalidParameterValueException as exc:
        raise ValueError(str(exc)) from exc
    except InvalidParameterTypeException as exc:
        override = _probe_override(node, name)
        try:
            value = _coerce(name, override, kind)
        except TypeError:
            raise TypeError(str(exc)) from exc
    try:
        return node.declare_parameter(name, value, descriptor, ignore_override=True)
    except InvalidParameterValueException as exc:
        raise ValueError(str(exc)) from exc


def _probe_override(node: Node, name: str) -> Any:
    """Return the override value of ``name`` whatever its type, leaving ``name`` undeclared."""
    probe = node.declare_parameter(name, None, ParameterDescriptor(dynamic_typing=True))
    node.undeclare_parameter(name)
    return probe.value


def _coerce(name: str, value: Any, kind: _Kind) -> Any:
    """Return ``value`` as ``kind``; integers are accepted where floats are expected."""
    if not kind.is_list:
        return _coerce_scalar(name, value, kind.element)
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(f"parameter '{name}' must be {kind}, got {value!r}")
    return [_coerce_scalar(name, item, kind.element) for item in value]


def _coerce_scalar(name: str, value: Any, element: type) -> Any:
    is_bool = isinstance(value, bool)
    if element is float and isinstance(value, (int, float)) and not is_bool:
        return float(value)
    if isinstance(value, element) and (element is bool or not is_bool):
        return value
    raise TypeError(f"parameter '{name}' must be {element.__name__}, got {value!r}")
