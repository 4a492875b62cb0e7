"""Policy types by name, from the `dojo.policies` entry-point group, imported only when asked for.

A package adds a policy type by declaring, in its setup.py,

    entry_points={'dojo.policies': ['diffusion = my_pkg.diffusion:DiffusionPolicy']}

where the name is the config's `type` (the `"type"` of config.json). `dojo train --policy NAME`,
`load_policy` and the policy node then find it without any edit to dojo. Lookups are lazy: loading
a checkpoint of type X imports X's module and no other policy's, so a robot that serves ACT never
imports a VLA's dependencies. Policy classes defined in the running process (a test, a notebook)
register themselves too (`Policy.__init_subclass__` calls `register`) and need no entry point.
"""
from __future__ import annotations

from importlib.metadata import entry_points
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dojo_core.policies.base import Policy
    from dojo_core.policies.config import PolicyConfig

ENTRY_POINT_GROUP = 'dojo.policies'

_DEFINED: dict[str, type[Policy]] = {}


def register(policy_class: type[Policy]) -> None:
    """Record a policy class under its config's `type` (done when the class is defined)."""
    _DEFINED[policy_class.config_class.type] = policy_class


def policy_types() -> list[str]:
    """Every known type name: the entry points (nothing imported) and the classes defined so far."""
    return sorted({ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)} | set(_DEFINED))


def policy_class(name: str) -> type[Policy]:
    """The policy class of type `name`, importing its entry point on first use."""
    if name in _DEFINED:
        return _DEFINED[name]
    found = entry_points(group=ENTRY_POINT_GROUP, name=name)
    if not found:
        raise ValueError(f'unknown policy type {name!r}; known: {policy_types()} (a package adds one through '
                         f'the {ENTRY_POINT_GROUP!r} entry-point group)')
    loaded = next(iter(found)).load()
    declared = getattr(getattr(loaded, 'config_class', None), 'type', None)
    if declared != name:
        raise ValueError(f'entry point {name!r} of {ENTRY_POINT_GROUP!r} loads {loaded!r}, whose config type is '
                         f'{declared!r}, not {name!r}')
    return loaded


def config_class(name: str) -> type[PolicyConfig]:
    """The config class of policy type `name` (for config.json files)."""
    return policy_class(name).config_class
