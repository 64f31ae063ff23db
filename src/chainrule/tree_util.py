"""Pytrees: nested containers of arrays, flattened to a list of leaves plus a structure.

A *pytree* is a value built out of registered container ("node") types whose
non-container parts are *leaves*.  The built-in node types are

* ``tuple`` and ``list`` -- children in order;
* ``dict`` -- children in sorted-key order (insertion order when the keys
  cannot be sorted, e.g. a mix of ``str`` and ``int`` keys);
* ``collections.OrderedDict`` -- children in insertion order;
* ``collections.namedtuple`` instances -- children in field order, the
  namedtuple type is kept;
* ``None`` -- a node with no children (so ``None`` contributes no leaves).

Further node types can be added with :func:`register_pytree_node` or
:func:`register_dataclass`.  Every other object (floats, ints, NumPy arrays,
arbitrary instances, and subclasses of the built-in containers other than
namedtuples) is a leaf.  Node types are matched by *exact* type.

:func:`tree_flatten` turns a tree into ``(leaves, treedef)``; the
:class:`PyTreeDef` is hashable and comparable, so it can serve as a cache key,
and :func:`tree_unflatten` rebuilds a tree of the same shape from new leaves.

The single-leaf case (``tree_flatten(1.0)``, ``tree_flatten(array)``) is a
hot path and is handled without recursion, returning a shared leaf treedef.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from typing import Any

import numpy as np

__all__ = [
    "PyTreeDef",
    "register_pytree_node",
    "register_dataclass",
    "tree_flatten",
    "tree_unflatten",
    "tree_leaves",
    "tree_structure",
    "tree_map",
    "tree_reduce",
    "tree_all",
    "treedef_is_leaf",
    "treedef_children",
]

# Node kinds.  Small ints so that dispatch is a cheap identity comparison.
_LEAF = 0
_NONE = 1
_TUPLE = 2
_LIST = 3
_DICT = 4
_ODICT = 5
_NAMEDTUPLE = 6
_CUSTOM = 7

_NoneType = type(None)


class _NodeSpec:
    """How one registered node type is flattened and rebuilt."""

    __slots__ = ("kind", "flatten", "unflatten")

    def __init__(self, kind: int, flatten=None, unflatten=None):
        self.kind = kind
        self.flatten = flatten
        self.unflatten = unflatten


# Exact type -> _NodeSpec.  Anything whose type is not a key here (and is not
# a namedtuple) is a leaf.
_registry: dict[type, _NodeSpec] = {
    tuple: _NodeSpec(_TUPLE),
    list: _NodeSpec(_LIST),
    dict: _NodeSpec(_DICT),
    OrderedDict: _NodeSpec(_ODICT),
    _NoneType: _NodeSpec(_NONE),
}


# ---------------------------------------------------------------------------
# PyTreeDef
# ---------------------------------------------------------------------------

def _aux_equal(a: Any, b: Any) -> bool:
    """Equality for auxiliary data that tolerates array-valued comparisons."""
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    try:
        r = a == b
        if isinstance(r, np.ndarray):
            return bool(r.all()) and np.shape(a) == np.shape(b)
        return bool(r)
    except Exception:
        return False


def _aux_hash(a: Any) -> int:
    try:
        return hash(a)
    except TypeError:
        # Unhashable auxiliary data: fall back to a coarse hash.  Equality
        # (which is exact) still distinguishes treedefs that collide here.
        return hash(type(a))


class PyTreeDef:
    """The structure of a pytree: node types, auxiliary data and leaf slots.

    Instances are immutable, hashable and compare equal exactly when they
    describe the same structure.  They are created by :func:`tree_flatten`;
    do not construct them directly.
    """

    __slots__ = ("_kind", "_type", "_aux", "_children", "_num_leaves",
                 "_unflatten", "_hash")

    def __init__(self, kind: int, node_type: type | None, aux: Any,
                 children: tuple, num_leaves: int, unflatten: Callable[[Any, list], Any] | None = None):
        self._kind = kind
        self._type: Any = node_type     # a class (a namedtuple's, a custom node's); None for leaves
        self._aux = aux
        self._children = children
        self._num_leaves = num_leaves
        self._unflatten = unflatten
        self._hash: int | None = None

    # -- basic properties ---------------------------------------------------

    @property
    def num_leaves(self) -> int:
        """Number of leaves in a tree of this structure."""
        return self._num_leaves

    @property
    def num_nodes(self) -> int:
        """Number of nodes (containers, ``None`` and leaves) in the structure."""
        return 1 + sum(c.num_nodes for c in self._children)

    @property
    def node_data(self) -> tuple[type | None, Any] | None:
        """``(node_type, aux_data)`` of the root, or None for a leaf."""
        if self._kind == _LEAF:
            return None
        return self._type, self._aux

    def children(self) -> list[PyTreeDef]:
        """The treedefs of the root's immediate children."""
        return list(self._children)

    def is_leaf(self) -> bool:
        return self._kind == _LEAF

    # -- rebuilding -----------------------------------------------------------

    def unflatten(self, leaves: Iterable[Any]) -> Any:
        """Build a tree of this structure from ``leaves`` (in flatten order)."""
        if type(leaves) is not list and type(leaves) is not tuple:
            leaves = list(leaves)
        n = len(leaves)
        if n != self._num_leaves:
            raise ValueError(
                f"Wrong number of leaves to unflatten {self!r}: "
                f"expected {self._num_leaves}, got {n}.")
        if self._kind == _LEAF:
            return leaves[0]
        return _build(self, iter(leaves))

    def flatten_up_to(self, tree: Any) -> list[Any]:
        """Flatten ``tree`` only as deep as this structure goes.

        This structure must be a prefix of ``tree``'s structure: at every
        leaf slot of ``self`` the corresponding *subtree* of ``tree`` (which
        may itself be a container) is returned as one element of the list.
        Raises ValueError if the containers do not match.
        """
        out: list[Any] = []
        _flatten_up_to(self, tree, out)
        return out

    # -- equality / hashing ---------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, PyTreeDef):
            return NotImplemented
        if (self._kind != other._kind
                or self._num_leaves != other._num_leaves
                or self._type is not other._type
                or len(self._children) != len(other._children)):
            return False
        if (self._hash is not None and other._hash is not None
                and self._hash != other._hash):
            return False
        if not _aux_equal(self._aux, other._aux):
            return False
        for a, b in zip(self._children, other._children):
            if not a == b:
                return False
        return True

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    def __hash__(self) -> int:
        h = self._hash
        if h is None:
            h = hash((self._kind, self._type, _aux_hash(self._aux),
                      self._children))
            self._hash = h
        return h

    # -- display --------------------------------------------------------------

    def __repr__(self) -> str:
        return f"PyTreeDef({_repr(self)})"

    __str__ = __repr__

    # Immutable: copies are the object itself.
    def __copy__(self) -> PyTreeDef:
        return self

    def __deepcopy__(self, memo) -> PyTreeDef:
        return self


# The single shared treedef for "a leaf", and for a bare None.
_LEAF_DEF = PyTreeDef(_LEAF, None, None, (), 1)
_NONE_DEF = PyTreeDef(_NONE, _NoneType, None, (), 0)


def _repr(td: PyTreeDef) -> str:
    kind = td._kind
    if kind == _LEAF:
        return "*"
    if kind == _NONE:
        return "None"
    parts = [_repr(c) for c in td._children]
    if kind == _TUPLE:
        if len(parts) == 1:
            return f"({parts[0]},)"
        return "(" + ", ".join(parts) + ")"
    if kind == _LIST:
        return "[" + ", ".join(parts) + "]"
    if kind == _DICT:
        return "{" + ", ".join(f"{k!r}: {p}" for k, p in zip(td._aux, parts)) + "}"
    if kind == _ODICT:
        inner = ", ".join(f"{k!r}: {p}" for k, p in zip(td._aux, parts))
        return "OrderedDict({" + inner + "})"
    if kind == _NAMEDTUPLE:
        fields = td._type._fields
        inner = ", ".join(f"{f}={p}" for f, p in zip(fields, parts))
        return f"{td._type.__name__}({inner})"
    # custom node
    return (f"CustomNode({td._type.__qualname__}[{td._aux!r}], "
            f"[{', '.join(parts)}])")


# ---------------------------------------------------------------------------
# Flattening
# ---------------------------------------------------------------------------

def _dict_keys(d: dict) -> list:
    try:
        return sorted(d)
    except TypeError:
        return list(d)


def _flatten(x: Any, leaves: list, is_leaf) -> PyTreeDef:
    """Append the leaves of ``x`` to ``leaves`` and return its treedef."""
    if is_leaf is not None and is_leaf(x):
        leaves.append(x)
        return _LEAF_DEF
    t = type(x)
    spec = _registry.get(t)
    if spec is None:
        if isinstance(x, tuple) and hasattr(t, "_fields"):
            n0 = len(leaves)
            subs = tuple([_flatten(c, leaves, is_leaf) for c in x])
            return PyTreeDef(_NAMEDTUPLE, t, None, subs, len(leaves) - n0)
        leaves.append(x)
        return _LEAF_DEF
    kind = spec.kind
    if kind == _NONE:
        return _NONE_DEF
    n0 = len(leaves)
    if kind == _TUPLE or kind == _LIST:
        subs = tuple([_flatten(c, leaves, is_leaf) for c in x])
        return PyTreeDef(kind, t, None, subs, len(leaves) - n0)
    if kind == _DICT:
        keys = tuple(_dict_keys(x))
        subs = tuple([_flatten(x[k], leaves, is_leaf) for k in keys])
        return PyTreeDef(_DICT, t, keys, subs, len(leaves) - n0)
    if kind == _ODICT:
        keys = tuple(x)
        subs = tuple([_flatten(x[k], leaves, is_leaf) for k in keys])
        return PyTreeDef(_ODICT, t, keys, subs, len(leaves) - n0)
    # custom registered node
    children, aux = spec.flatten(x)
    subs = tuple([_flatten(c, leaves, is_leaf) for c in children])
    return PyTreeDef(_CUSTOM, t, aux, subs, len(leaves) - n0, spec.unflatten)


def _build(td: PyTreeDef, it) -> Any:
    kind = td._kind
    if kind == _LEAF:
        return next(it)
    if kind == _NONE:
        return None
    ch = [_build(c, it) for c in td._children]
    if kind == _TUPLE:
        return tuple(ch)
    if kind == _LIST:
        return ch
    if kind == _DICT:
        return dict(zip(td._aux, ch))
    if kind == _ODICT:
        return OrderedDict(zip(td._aux, ch))
    if kind == _NAMEDTUPLE:
        return td._type(*ch)
    unflatten = td._unflatten
    assert unflatten is not None        # every custom node carries its unflatten
    return unflatten(td._aux, ch)


def _node_name(td: PyTreeDef) -> str:
    return _repr(PyTreeDef(td._kind, td._type, td._aux,
                           (_LEAF_DEF,) * len(td._children), 0))


def _flatten_up_to(td: PyTreeDef, x: Any, out: list) -> None:
    kind = td._kind
    if kind == _LEAF:
        out.append(x)
        return
    t = type(x)

    def mismatch(detail: str):
        return ValueError(
            f"Tree structure mismatch: expected a node {_node_name(td)}, "
            f"got {type(x).__name__} {detail}".rstrip())

    if kind == _NONE:
        if x is not None:
            raise mismatch("(expected None)")
        return
    if kind == _TUPLE or kind == _LIST:
        if t is not td._type:
            raise mismatch("")
        if len(x) != len(td._children):
            raise mismatch(f"of length {len(x)}")
        children = x
    elif kind == _DICT or kind == _ODICT:
        if t is not td._type:
            raise mismatch("")
        keys = tuple(_dict_keys(x)) if kind == _DICT else tuple(x)
        if keys != td._aux:
            raise mismatch(f"with keys {list(keys)!r}")
        children = [x[k] for k in keys]
    elif kind == _NAMEDTUPLE:
        if t is not td._type:
            raise mismatch("")
        children = x
    else:
        if t is not td._type:
            raise mismatch("")
        children, aux = _registry[t].flatten(x)
        children = list(children)
        if not _aux_equal(aux, td._aux):
            raise mismatch(f"with auxiliary data {aux!r}")
        if len(children) != len(td._children):
            raise mismatch(f"with {len(children)} children")
    for c_td, c in zip(td._children, children):
        _flatten_up_to(c_td, c, out)


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------

def tree_flatten(tree: Any, is_leaf: Callable[[Any], bool] | None = None
                 ) -> tuple[list[Any], PyTreeDef]:
    """Flatten ``tree`` into ``(leaves, treedef)``.

    ``is_leaf``, if given, is called on every subtree (root first); where it
    returns True that subtree is treated as a single leaf.
    """
    if is_leaf is None:
        t = type(tree)
        if t not in _registry and not isinstance(tree, tuple):
            return [tree], _LEAF_DEF
    leaves: list[Any] = []
    td = _flatten(tree, leaves, is_leaf)
    return leaves, td


def tree_unflatten(treedef: PyTreeDef, leaves: Iterable[Any]) -> Any:
    """Build a tree with structure ``treedef`` from ``leaves``."""
    return treedef.unflatten(leaves)


def tree_leaves(tree: Any, is_leaf: Callable[[Any], bool] | None = None
                ) -> list[Any]:
    """The leaves of ``tree`` in flatten order."""
    return tree_flatten(tree, is_leaf)[0]


def tree_structure(tree: Any, is_leaf: Callable[[Any], bool] | None = None
                   ) -> PyTreeDef:
    """The :class:`PyTreeDef` of ``tree``."""
    return tree_flatten(tree, is_leaf)[1]


def tree_map(f: Callable[..., Any], tree: Any, *rest: Any,
             is_leaf: Callable[[Any], bool] | None = None) -> Any:
    """Apply ``f`` leaf-wise: ``f(leaf, *corresponding leaves of rest)``.

    Every tree in ``rest`` must have the same structure as ``tree``
    (ValueError otherwise).  Returns a tree of ``tree``'s structure holding
    the results.
    """
    leaves, treedef = tree_flatten(tree, is_leaf)
    if not rest:
        return treedef.unflatten([f(x) for x in leaves])
    all_leaves = [leaves]
    for i, r in enumerate(rest, start=1):
        r_leaves, r_def = tree_flatten(r, is_leaf)
        if r_def != treedef:
            raise ValueError(
                f"tree_map: tree {i} of the extra trees has structure {r_def!r}, "
                f"which differs from the first tree's structure {treedef!r}.")
        all_leaves.append(r_leaves)
    return treedef.unflatten([f(*xs) for xs in zip(*all_leaves)])


_MISSING = object()


def tree_reduce(function: Callable[[Any, Any], Any], tree: Any,
                initializer: Any = _MISSING,
                is_leaf: Callable[[Any], bool] | None = None) -> Any:
    """``functools.reduce(function, tree_leaves(tree)[, initializer])``."""
    leaves = tree_flatten(tree, is_leaf)[0]
    if initializer is _MISSING:
        if not leaves:
            raise TypeError("tree_reduce() of a tree with no leaves and no initializer")
        acc = leaves[0]
        rest = leaves[1:]
    else:
        acc = initializer
        rest = leaves
    for x in rest:
        acc = function(acc, x)
    return acc


def tree_all(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> bool:
    """True when every leaf is truthy (``all(tree_leaves(tree))``)."""
    return all(tree_flatten(tree, is_leaf)[0])


def treedef_is_leaf(treedef: PyTreeDef) -> bool:
    """True when ``treedef`` describes a single leaf."""
    return treedef._kind == _LEAF


def treedef_children(treedef: PyTreeDef) -> list[PyTreeDef]:
    """The treedefs of the root node's immediate children."""
    return treedef.children()


# ---------------------------------------------------------------------------
# Registration
# ---------------------------------------------------------------------------

def register_pytree_node(nodetype: type,
                         flatten_func: Callable[[Any], tuple[Iterable[Any], Hashable]],
                         unflatten_func: Callable[[Hashable, Iterable[Any]], Any]
                         ) -> None:
    """Register ``nodetype`` as a pytree node.

    ``flatten_func(x)`` returns ``(children, aux_data)``: an iterable of the
    child subtrees and hashable, comparable auxiliary data kept in the
    treedef.  ``unflatten_func(aux_data, children)`` rebuilds the node from a
    list of children.  Instances are matched by exact type (subclasses are not
    covered).  Registering a type that is already a node type (including the
    built-in containers) raises ValueError.
    """
    if not isinstance(nodetype, type):
        raise TypeError(f"register_pytree_node expects a type, got {nodetype!r}")
    if not callable(flatten_func) or not callable(unflatten_func):
        raise TypeError("flatten_func and unflatten_func must be callable")
    if nodetype in _registry:
        raise ValueError(f"Duplicate pytree node registration for type {nodetype!r}")
    _registry[nodetype] = _NodeSpec(_CUSTOM, flatten_func, unflatten_func)


def unregistered_hint(x: Any) -> str:
    """What to do about `x`, an object that is neither an array nor a pytree node."""
    kind = "dataclass" if dataclasses.is_dataclass(x) else "class"
    return (f"register the {kind} {type(x).__name__} as a pytree "
            "(chainrule.tree_util.register_pytree_node, or register_dataclass for a "
            "dataclass) so that its array fields become leaves, or pass the arrays themselves")


def register_dataclass(nodetype: type | None = None, *,
                       data_fields: Iterable[str] | None = None,
                       meta_fields: Iterable[str] | None = None):
    """Register a dataclass as a pytree node; returns the class.

    By default every dataclass field is a child.  Fields named in
    ``meta_fields`` are instead kept (as hashable values) in the treedef's
    auxiliary data; if ``data_fields`` is given, exactly those fields are
    children.  Usable as ``@register_dataclass`` or
    ``register_dataclass(cls, meta_fields=[...])``, or, with only keyword
    arguments, as a decorator factory.

    Rebuilding sets the fields directly on a new instance; ``__init__`` and
    ``__post_init__`` are not run, so leaves may be replaced by arbitrary
    objects (tracers, ``None``, ...) without tripping validation code.
    """
    if nodetype is None:
        return lambda cls: register_dataclass(
            cls, data_fields=data_fields, meta_fields=meta_fields)
    if not (isinstance(nodetype, type) and dataclasses.is_dataclass(nodetype)):
        raise TypeError(f"register_dataclass expects a dataclass type, got {nodetype!r}")
    all_names = [f.name for f in dataclasses.fields(nodetype)]
    meta = tuple(meta_fields) if meta_fields is not None else ()
    if data_fields is not None:
        data = tuple(data_fields)
    else:
        data = tuple(n for n in all_names if n not in meta)
    unknown = [n for n in data + meta if n not in all_names]
    if unknown:
        raise ValueError(f"{nodetype.__name__} has no dataclass fields {unknown!r}")
    if set(data) & set(meta):
        raise ValueError(
            f"fields {sorted(set(data) & set(meta))!r} are both data and meta fields")
    missing = [n for n in all_names if n not in data and n not in meta]
    if missing:
        raise ValueError(
            f"dataclass fields {missing!r} of {nodetype.__name__} are neither "
            f"data_fields nor meta_fields")

    def flatten(x):
        return ([getattr(x, n) for n in data],
                tuple(getattr(x, n) for n in meta))

    def unflatten(aux, children):
        obj = nodetype.__new__(nodetype)
        for n, v in zip(meta, aux):
            object.__setattr__(obj, n, v)
        for n, v in zip(data, children):
            object.__setattr__(obj, n, v)
        return obj

    register_pytree_node(nodetype, flatten, unflatten)
    return nodetype
