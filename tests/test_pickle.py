"""Transformed functions pickle (plain pickle where `f` is importable, cloudpickle always) and
give the same numbers in another process; a jitted function ships without its compiled code."""
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import chainrule as cr

cloudpickle = pytest.importorskip("cloudpickle")

MODULE = textwrap.dedent('''
    import chainrule as cr
    import chainrule.numpy as jnp

    def f(x):
        return jnp.sum(jnp.sin(x) ** 2) + x[0] * x[1] ** 3

    def branchy(x):                       # Python control flow: one specialisation per branch
        if x[0] > 0:
            return jnp.sum(jnp.exp(x))
        return jnp.sum(x ** 3)

    def looped(x):                        # a loop (numba kernel under jit where numba is installed)
        return cr.fori_loop(0, 20, lambda i, c: c * 0.9 + jnp.sin(c) * x, x * 0 + 1.0)

    @cr.jit
    def jitted_at_module_level(x):
        return jnp.sum(jnp.cos(x) * x)
''')

CHILD = textwrap.dedent('''
    import pickle, sys
    sys.path.insert(0, sys.argv[1])
    with open(sys.argv[2], "rb") as fh:
        cases = pickle.load(fh)
    out = {}
    for name, (blob, args) in cases.items():
        fn = pickle.loads(blob)
        caches = [len(j._cache) for j in (fn, getattr(fn, "__wrapped__", None)) if hasattr(j, "_cache")]
        out[name] = (fn(*args), caches)
    with open(sys.argv[3], "wb") as fh:
        pickle.dump(out, fh)
''')


@pytest.fixture(scope="module")
def mod(tmp_path_factory):
    d = tmp_path_factory.mktemp("pkmod")
    (d / "pkmod.py").write_text(MODULE)
    sys.path.insert(0, str(d))
    import pkmod
    yield pkmod, d
    sys.path.remove(str(d))
    sys.modules.pop("pkmod", None)


def _round_trip(cases, d):
    """Run each pickled function in a fresh Python process: {name: (value, caches before the call)}."""
    (d / "in.pkl").write_bytes(pickle.dumps(cases))
    subprocess.run([sys.executable, "-c", CHILD, str(d), str(d / "in.pkl"), str(d / "out.pkl")],
                   check=True, timeout=120)
    return pickle.loads((d / "out.pkl").read_bytes())


def _same(a, b):
    for x, y in zip(cr.tree_util.tree_leaves(a), cr.tree_util.tree_leaves(b)):
        np.testing.assert_allclose(x, y, rtol=1e-13, atol=1e-14)


def test_transformed_functions_pickle_after_a_call_and_agree_in_another_process(mod):
    m, d = mod
    x = np.array([0.3, -1.2, 0.7, 2.0])
    neg = -np.abs(x)
    X = np.stack([x, 2 * x, x[::-1]])
    fns = {
        "grad": (cr.grad(m.f), (x,)),
        "value_and_grad": (cr.value_and_grad(m.f), (x,)),
        "jit_grad": (cr.jit(cr.grad(m.f)), (x,)),
        "hessian": (cr.hessian(m.f), (x,)),
        "jit_hessian": (cr.jit(cr.hessian(m.f)), (x,)),
        "jacrev": (cr.jacrev(cr.grad(m.f)), (x,)),
        "jit_branchy_pos": (cr.jit(cr.grad(m.branchy)), (x,)),
        "jit_loop_grad": (cr.jit(cr.grad(lambda v: m.looped(v).sum())), (x,)),
        "module_level_jit": (m.jitted_at_module_level, (x,)),
        "vmap_grad": (cr.vmap(cr.grad(m.f)), (X,)),
        "jit_vmap_grad": (cr.jit(cr.vmap(cr.grad(m.f))), (X,)),
    }
    want, cases = {}, {}
    for name, (fn, args) in fns.items():
        want[name] = fn(*args)
        fn(*args)                                   # caches full (a jitted function has compiled)
        if name == "jit_branchy_pos":
            want["jit_branchy_neg"] = fn(neg)       # a second specialisation, for the other branch
        plain = not name.startswith(("vmap", "jit_vmap", "jit_loop"))   # lambdas/vmap closures: cloudpickle
        blob = pickle.dumps(fn) if plain else cloudpickle.dumps(fn)
        cases[name] = (blob, args)
        if name == "jit_branchy_pos":
            cases["jit_branchy_neg"] = (blob, (neg,))
    got = _round_trip(cases, d)
    for name, value in want.items():
        _same(got[name][0], value)
        assert all(n == 0 for n in got[name][1]), f"{name} shipped compiled code: caches {got[name][1]}"
    np.testing.assert_allclose(want["grad"], 2 * np.sin(x) * np.cos(x)
                               + np.array([x[1] ** 3, 3 * x[0] * x[1] ** 2, 0, 0]), rtol=1e-14)
    np.testing.assert_allclose(want["jit_branchy_neg"], 3 * neg ** 2, rtol=1e-14)


def test_plain_pickle_of_module_level_transformations(mod):
    m, _ = mod
    x = np.array([0.5, 1.5])
    for fn in (cr.grad(m.f), cr.value_and_grad(m.f, argnums=(0,)), cr.hessian(m.f), cr.jacfwd(m.f),
               cr.jacobian(m.f), cr.jit(cr.grad(m.f)), m.jitted_at_module_level):
        want = fn(x)
        back = pickle.loads(pickle.dumps(fn))
        _same(back(x), want)
    assert pickle.loads(pickle.dumps(m.jitted_at_module_level)) is m.jitted_at_module_level   # by name


def test_a_jitted_function_pickles_without_its_specialisations(mod):
    m, _ = mod
    j = cr.jit(cr.grad(m.f))
    x = np.array([0.1, 0.2, 0.3])
    want = j(x)
    assert len(j._cache) == 1
    for dumps in (pickle.dumps, cloudpickle.dumps):
        back = pickle.loads(dumps(j))
        assert back._cache == {} and len(j._cache) == 1       # the original keeps its caches
        _same(back(x), want)
        assert len(back._cache) == 1                           # rebuilt by the call


def test_a_transformed_function_still_binds_as_a_method(mod):
    m, _ = mod

    class Model:
        w = np.array([1.0, 2.0])
        g = cr.grad(lambda self, x: (self.w * x ** 2).sum(), argnums=1)

    np.testing.assert_allclose(Model().g(np.array([3.0, 4.0])), [6.0, 16.0])
    assert cr.grad(m.f).__name__ == "f" and cr.grad(m.f).__wrapped__.__wrapped__ is m.f
