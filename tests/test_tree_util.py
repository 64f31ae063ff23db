# Timing (CPython 3.11.7, NumPy 2.4.6, measured with timeit, best of 5 x 200k loops):
#   tree_flatten(1.0)                      ~90 ns
#   tree_flatten(np.ones(3))               ~90 ns
#   tree_unflatten(leaf_treedef, [1])      ~85 ns
#   tree_flatten((a, {'x': a, 'y': [a, a]}))  ~2.2 us
#   tree_flatten([a] * 100)                ~12 us
import copy
import dataclasses
from collections import OrderedDict, namedtuple

import numpy as np
import pytest

from chainrule.tree_util import (
    PyTreeDef,
    register_dataclass,
    register_pytree_node,
    tree_all,
    tree_flatten,
    tree_leaves,
    tree_map,
    tree_reduce,
    tree_structure,
    tree_unflatten,
    treedef_children,
    treedef_is_leaf,
)

Point = namedtuple("Point", ["x", "y"])


class Box:
    """A custom container: two children plus a hashable label as aux data."""

    def __init__(self, a, b, label):
        self.a = a
        self.b = b
        self.label = label

    def __eq__(self, other):
        return (type(other) is Box and self.label == other.label
                and _tree_equal(self.a, other.a) and _tree_equal(self.b, other.b))


register_pytree_node(
    Box,
    lambda box: ((box.a, box.b), box.label),
    lambda label, children: Box(children[0], children[1], label),
)


@register_dataclass
@dataclasses.dataclass
class Params:
    w: object
    b: object


@dataclasses.dataclass(frozen=True)
class Layer:
    weight: object
    name: str
    bias: object = None

    def __post_init__(self):
        if not isinstance(self.name, str):
            raise TypeError("name must be a string")


register_dataclass(Layer, meta_fields=["name"])


def _tree_equal(x, y):
    """Structural + value equality, arrays compared by value, types exact."""
    lx, tx = tree_flatten(x)
    ly, ty = tree_flatten(y)
    if tx != ty:
        return False
    for a, b in zip(lx, ly):
        if type(a) is not type(b):
            return False
        if isinstance(a, np.ndarray):
            if a.shape != b.shape or not np.array_equal(a, b):
                return False
        elif a != b:
            return False
    return True


def _round_trip(tree):
    leaves, td = tree_flatten(tree)
    return leaves, td, tree_unflatten(td, leaves)


# ---------------------------------------------------------------------------
# Leaves
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("leaf", [1.0, 3, "s", np.float64(2.5), object()])
def test_scalar_and_object_leaves(leaf):
    leaves, td = tree_flatten(leaf)
    assert leaves == [leaf]
    assert leaves[0] is leaf
    assert td.num_leaves == 1
    assert treedef_is_leaf(td)
    assert repr(td) == "PyTreeDef(*)"
    assert tree_unflatten(td, [7]) == 7


def test_array_is_a_leaf():
    a = np.arange(6.0).reshape(2, 3)
    leaves, td = tree_flatten(a)
    assert len(leaves) == 1 and leaves[0] is a
    assert treedef_is_leaf(td)
    assert tree_unflatten(td, [a]) is a


def test_leaf_treedef_is_shared_singleton():
    assert tree_structure(1.0) is tree_structure(np.ones(3))
    assert tree_structure("x") is tree_structure(object())


def test_subclasses_of_builtin_containers_are_leaves():
    class MyList(list):
        pass

    class MyDict(dict):
        pass

    class MyTuple(tuple):
        pass

    for obj in (MyList([1, 2]), MyDict(a=1), MyTuple((1, 2))):
        leaves, td = tree_flatten(obj)
        assert leaves == [obj] and leaves[0] is obj
        assert treedef_is_leaf(td)


# ---------------------------------------------------------------------------
# Built-in containers
# ---------------------------------------------------------------------------

def test_tuple_round_trip():
    leaves, td, back = _round_trip((1, 2.0, 3))
    assert leaves == [1, 2.0, 3]
    assert td.num_leaves == 3
    assert back == (1, 2.0, 3) and type(back) is tuple
    assert repr(td) == "PyTreeDef((*, *, *))"


def test_single_element_and_empty_tuple_repr():
    assert repr(tree_structure((1,))) == "PyTreeDef((*,))"
    assert repr(tree_structure(())) == "PyTreeDef(())"
    leaves, td, back = _round_trip(())
    assert leaves == [] and back == () and td.num_leaves == 0


def test_list_round_trip():
    leaves, td, back = _round_trip([1, [2, 3], []])
    assert leaves == [1, 2, 3]
    assert back == [1, [2, 3], []]
    assert type(back) is list and type(back[1]) is list
    assert repr(td) == "PyTreeDef([*, [*, *], []])"


def test_dict_round_trip_and_sorted_key_order():
    tree = {"b": 2, "a": 1, "c": 3}
    leaves, td, back = _round_trip(tree)
    assert leaves == [1, 2, 3]
    assert back == tree
    assert list(back) == ["a", "b", "c"]
    assert repr(td) == "PyTreeDef({'a': *, 'b': *, 'c': *})"


def test_dict_insertion_order_does_not_matter():
    d1 = {"x": 1, "y": 2}
    d2 = {"y": 20, "x": 10}
    l1, t1 = tree_flatten(d1)
    l2, t2 = tree_flatten(d2)
    assert t1 == t2 and hash(t1) == hash(t2)
    assert l1 == [1, 2] and l2 == [10, 20]


def test_dict_integer_keys_sorted():
    leaves, td = tree_flatten({3: "c", 1: "a", 2: "b"})
    assert leaves == ["a", "b", "c"]
    assert tree_unflatten(td, [10, 20, 30]) == {1: 10, 2: 20, 3: 30}


def test_dict_mixed_unsortable_keys_use_insertion_order():
    tree = {"b": 1, 2: 2, "a": 3}
    leaves, td, back = _round_trip(tree)
    assert leaves == [1, 2, 3]
    assert back == tree
    assert list(back) == ["b", 2, "a"]
    assert repr(td) == "PyTreeDef({'b': *, 2: *, 'a': *})"


def test_ordered_dict_keeps_insertion_order_and_type():
    tree = OrderedDict([("z", 1), ("a", 2)])
    leaves, td, back = _round_trip(tree)
    assert leaves == [1, 2]
    assert type(back) is OrderedDict
    assert list(back.items()) == [("z", 1), ("a", 2)]
    assert repr(td) == "PyTreeDef(OrderedDict({'z': *, 'a': *}))"
    # Different order -> different structure; dict vs OrderedDict differ too.
    assert td != tree_structure(OrderedDict([("a", 1), ("z", 2)]))
    assert td != tree_structure({"z": 1, "a": 2})


def test_none_is_a_node_with_no_children():
    leaves, td = tree_flatten(None)
    assert leaves == []
    assert td.num_leaves == 0
    assert not treedef_is_leaf(td)
    assert tree_unflatten(td, []) is None
    assert repr(td) == "PyTreeDef(None)"


def test_none_inside_containers():
    tree = [1, None, {"a": None, "b": 2}]
    leaves, td, back = _round_trip(tree)
    assert leaves == [1, 2]
    assert back == tree
    assert repr(td) == "PyTreeDef([*, None, {'a': None, 'b': *}])"
    assert tree_map(lambda x: x * 10, tree) == [10, None, {"a": None, "b": 20}]


def test_namedtuple_type_preserved():
    p = Point(1.0, np.array([2.0, 3.0]))
    leaves, td = tree_flatten(p)
    assert leaves[0] == 1.0 and leaves[1] is p.y
    back = tree_unflatten(td, [5, 6])
    assert type(back) is Point
    assert back == Point(5, 6) and back.x == 5 and back.y == 6
    assert repr(td) == "PyTreeDef(Point(x=*, y=*))"
    # A plain tuple with the same arity is a different structure.
    assert td != tree_structure((1, 2))


def test_different_namedtuple_types_differ():
    Other = namedtuple("Other", ["x", "y"])
    assert tree_structure(Point(1, 2)) != tree_structure(Other(1, 2))
    assert tree_structure(Point(1, 2)) == tree_structure(Point(3, 4))


def test_deep_nesting_round_trip():
    a = np.ones(2)
    tree = (a, {"a": [1, (2, Point(3, [4, None])), OrderedDict(k=5)],
                "b": {"c": (), "d": [6]}}, [[[7]]])
    leaves, td, back = _round_trip(tree)
    assert leaves[0] is a
    assert leaves[1:] == [1, 2, 3, 4, 5, 6, 7]
    assert td.num_leaves == 8
    assert _tree_equal(back, tree)
    assert type(back[1]["a"][1][1]) is Point
    assert type(back[1]["a"][2]) is OrderedDict
    # Unflatten with new leaves puts each in the right slot.
    new = tree_unflatten(td, list(range(8)))
    assert new == (0, {"a": [1, (2, Point(3, [4, None])), OrderedDict(k=5)],
                       "b": {"c": (), "d": [6]}}, [[[7]]])


def test_repr_matches_example():
    td = tree_structure((1.0, {"a": 2, "b": [3, 4]}))
    assert repr(td) == "PyTreeDef((*, {'a': *, 'b': [*, *]}))"
    assert str(td) == repr(td)


def test_tree_leaves_and_structure():
    tree = {"w": np.zeros(2), "b": [1.0, 2.0]}
    leaves = tree_leaves(tree)
    assert leaves[0] == 1.0 and leaves[1] == 2.0 and leaves[2] is tree["w"]
    td = tree_structure(tree)
    assert isinstance(td, PyTreeDef)
    assert td.num_leaves == 3
    assert td == tree_flatten(tree)[1]


def test_treedef_unflatten_method_and_iterables():
    td = tree_structure([1, (2, 3)])
    assert td.unflatten([7, 8, 9]) == [7, (8, 9)]
    assert td.unflatten((7, 8, 9)) == [7, (8, 9)]
    assert td.unflatten(iter([7, 8, 9])) == [7, (8, 9)]


def test_treedef_children():
    td = tree_structure((1, [2, 3], None))
    kids = treedef_children(td)
    assert [repr(k) for k in kids] == ["PyTreeDef(*)", "PyTreeDef([*, *])",
                                      "PyTreeDef(None)"]
    assert td.num_nodes == 6


# ---------------------------------------------------------------------------
# Custom nodes and dataclasses
# ---------------------------------------------------------------------------

def test_registered_custom_class():
    box = Box(1.0, [2.0, 3.0], label="L")
    leaves, td = tree_flatten(box)
    assert leaves == [1.0, 2.0, 3.0]
    assert repr(td) == "PyTreeDef(CustomNode(Box['L'], [*, [*, *]]))"
    back = tree_unflatten(td, [10, 20, 30])
    assert type(back) is Box
    assert back.a == 10 and back.b == [20, 30] and back.label == "L"
    # aux data takes part in equality
    assert td == tree_structure(Box(0, [0, 0], "L"))
    assert td != tree_structure(Box(0, [0, 0], "M"))
    doubled = tree_map(lambda x: 2 * x, box)
    assert doubled == Box(2.0, [4.0, 6.0], "L")


def test_custom_class_nested_inside_containers():
    tree = {"k": [Box(1, 2, "x"), Box(Box(3, 4, "in"), 5, "y")]}
    leaves, td, back = _round_trip(tree)
    assert leaves == [1, 2, 3, 4, 5]
    assert back == tree
    assert type(back["k"][1].a) is Box and back["k"][1].a.label == "in"


def test_subclass_of_registered_type_is_a_leaf():
    class SubBox(Box):
        pass

    sb = SubBox(1, 2, "s")
    leaves, td = tree_flatten(sb)
    assert leaves == [sb] and treedef_is_leaf(td)


def test_registered_dataclass():
    p = Params(w=np.array([1.0, 2.0]), b=3.0)
    leaves, td = tree_flatten(p)
    assert leaves[0] is p.w and leaves[1] == 3.0
    assert td.num_leaves == 2
    back = tree_unflatten(td, [4.0, 5.0])
    assert type(back) is Params
    assert back == Params(w=4.0, b=5.0)
    scaled = tree_map(lambda x: x * 2, p)
    assert np.array_equal(scaled.w, [2.0, 4.0]) and scaled.b == 6.0


def test_register_dataclass_returns_class_as_decorator():
    @dataclasses.dataclass
    class Pair:
        first: object
        second: object

    assert register_dataclass(Pair) is Pair
    assert tree_leaves(Pair([1, 2], {"q": 3})) == [1, 2, 3]
    assert Params.__name__ == "Params"  # decorator left the class usable


def test_dataclass_meta_fields_and_frozen():
    layer = Layer(weight=np.ones(2), name="dense", bias=0.5)
    leaves, td = tree_flatten(layer)
    assert len(leaves) == 2 and leaves[0] is layer.weight and leaves[1] == 0.5
    # meta field lives in aux data: different names -> different structure
    assert td == tree_structure(Layer(weight=0, name="dense", bias=0))
    assert td != tree_structure(Layer(weight=0, name="conv", bias=0))
    back = tree_unflatten(td, [1.0, None])
    assert type(back) is Layer
    assert back.weight == 1.0 and back.bias is None and back.name == "dense"
    # None as a bias is a node with no leaves, giving a different structure.
    assert tree_structure(back).num_leaves == 1


def test_register_dataclass_rejects_non_dataclass():
    class NotADataclass:
        pass

    with pytest.raises(TypeError):
        register_dataclass(NotADataclass)


# ---------------------------------------------------------------------------
# tree_map
# ---------------------------------------------------------------------------

def test_tree_map_single_tree():
    tree = {"a": 1, "b": (2, [3])}
    assert tree_map(lambda x: x + 1, tree) == {"a": 2, "b": (3, [4])}


def test_tree_map_multiple_trees():
    t1 = {"a": 1, "b": (2, 3)}
    t2 = {"a": 10, "b": (20, 30)}
    t3 = {"b": (200, 300), "a": 100}
    out = tree_map(lambda x, y, z: x + y + z, t1, t2, t3)
    assert out == {"a": 111, "b": (222, 333)}


def test_tree_map_with_arrays():
    a = {"w": np.array([1.0, 2.0]), "b": np.array(3.0)}
    g = {"w": np.array([0.5, 0.5]), "b": np.array(1.0)}
    out = tree_map(lambda p, d: p - 0.1 * d, a, g)
    np.testing.assert_allclose(out["w"], [0.95, 1.95])
    np.testing.assert_allclose(out["b"], 2.9)


def test_tree_map_structure_mismatch_raises():
    with pytest.raises(ValueError) as ei:
        tree_map(lambda x, y: x + y, [1, 2], [1, 2, 3])
    msg = str(ei.value)
    assert "PyTreeDef([*, *])" in msg and "PyTreeDef([*, *, *])" in msg
    with pytest.raises(ValueError):
        tree_map(lambda x, y: x + y, {"a": 1}, {"b": 1})
    with pytest.raises(ValueError):
        tree_map(lambda x, y: x + y, (1, 2), [1, 2])
    with pytest.raises(ValueError):
        tree_map(lambda x, y: x + y, [1, 2], [1, (2, 3)])


def test_tree_map_with_is_leaf():
    tree = [(1, 2), (3, 4)]
    out = tree_map(lambda t: t[0] * t[1], tree,
                   is_leaf=lambda x: isinstance(x, tuple))
    assert out == [2, 12]


# ---------------------------------------------------------------------------
# is_leaf
# ---------------------------------------------------------------------------

def test_is_leaf_stops_descent():
    tree = {"a": [1, 2], "b": (3, [4, 5])}
    leaves, td = tree_flatten(tree, is_leaf=lambda x: isinstance(x, list))
    assert leaves == [[1, 2], 3, [4, 5]]
    assert repr(td) == "PyTreeDef({'a': *, 'b': (*, *)})"
    assert tree_unflatten(td, leaves) == tree


def test_is_leaf_on_root_and_none():
    leaves, td = tree_flatten([1, 2], is_leaf=lambda x: True)
    assert leaves == [[1, 2]] and treedef_is_leaf(td)
    leaves, td = tree_flatten([1, None], is_leaf=lambda x: x is None)
    assert leaves == [1, None] and td.num_leaves == 2
    assert tree_leaves([None, (None,)], is_leaf=lambda x: x is None) == [None, None]


def test_is_leaf_false_everywhere_is_default():
    tree = {"a": [1, (2, 3)]}
    assert tree_flatten(tree, is_leaf=lambda x: False) == tree_flatten(tree)


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------

def test_unflatten_wrong_leaf_count():
    td = tree_structure((1, [2, 3]))
    with pytest.raises(ValueError, match="expected 3, got 2"):
        tree_unflatten(td, [1, 2])
    with pytest.raises(ValueError, match="expected 3, got 4"):
        td.unflatten([1, 2, 3, 4])
    with pytest.raises(ValueError, match="expected 1, got 0"):
        tree_unflatten(tree_structure(1.0), [])
    with pytest.raises(ValueError, match="expected 0, got 1"):
        tree_unflatten(tree_structure(None), [1])


def test_register_twice_raises():
    class Thing:
        def __init__(self, v):
            self.v = v

    register_pytree_node(Thing, lambda t: ((t.v,), None),
                         lambda aux, ch: Thing(ch[0]))
    with pytest.raises(ValueError):
        register_pytree_node(Thing, lambda t: ((t.v,), None),
                             lambda aux, ch: Thing(ch[0]))
    # built-in node types are registered too
    with pytest.raises(ValueError):
        register_pytree_node(list, lambda x: (x, None), lambda a, c: list(c))
    with pytest.raises(ValueError):
        register_dataclass(Params)


# ---------------------------------------------------------------------------
# PyTreeDef equality / hashing
# ---------------------------------------------------------------------------

def test_treedef_equal_and_hash_for_same_structure():
    t1 = tree_structure((1.0, {"a": np.ones(3), "b": [2, 3]}))
    t2 = tree_structure(("x", {"b": [4, 5], "a": object()}))
    assert t1 == t2
    assert not (t1 != t2)
    assert hash(t1) == hash(t2)
    cache = {t1: "hit"}
    assert cache[t2] == "hit"


@pytest.mark.parametrize("other", [
    (1, {"a": 1, "b": [2]}),           # shorter inner list
    (1, {"a": 1, "c": [2, 3]}),        # different key
    [1, {"a": 1, "b": [2, 3]}],        # list vs tuple at root
    (1, {"a": 1, "b": (2, 3)}),        # tuple vs list inside
    (1, {"a": None, "b": [2, 3]}),     # None vs leaf
    (1, {"a": [1], "b": [2, 3]}),      # [leaf] vs leaf
    1.0,                               # a single leaf
    (Point(1, 2), {"a": 1, "b": [2, 3]}),
])
def test_treedef_differs_for_different_structure(other):
    base = tree_structure((1, {"a": 1, "b": [2, 3]}))
    td = tree_structure(other)
    assert base != td
    assert not (base == td)
    assert {base: 1}.get(td) is None


def test_treedef_hash_set_dedup():
    defs = {tree_structure(t) for t in
            [(1, 2), (3, 4), [1, 2], {"a": 1}, {"a": 2}, None, 1.0, 2.0]}
    assert len(defs) == 5


def test_treedef_compares_to_non_treedef():
    td = tree_structure([1])
    assert td != [1]
    assert not (td == "PyTreeDef([*])")


def test_treedef_copy_is_identity():
    td = tree_structure({"a": [1, 2]})
    assert copy.copy(td) is td
    assert copy.deepcopy(td) is td


# ---------------------------------------------------------------------------
# Extras: flatten_up_to, tree_reduce, tree_all
# ---------------------------------------------------------------------------

def test_flatten_up_to_prefix():
    td = tree_structure({"a": 1, "b": 2})
    assert td.flatten_up_to({"a": [1, 2], "b": (3,)}) == [[1, 2], (3,)]
    with pytest.raises(ValueError):
        td.flatten_up_to({"a": 1, "c": 2})
    with pytest.raises(ValueError):
        td.flatten_up_to([1, 2])


def test_tree_reduce_and_tree_all():
    tree = {"a": 1, "b": [2, 3]}
    assert tree_reduce(lambda x, y: x + y, tree) == 6
    assert tree_reduce(lambda x, y: x + y, tree, 10) == 16
    assert tree_all([True, (1, "x")])
    assert not tree_all([True, (0, "x")])
    assert tree_all(None)
