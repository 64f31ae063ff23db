"""chainrule.dask on a two-process LocalCluster: results equal single-process chainrule (and
closed forms), jitted work compiles on the workers, a killed worker is retried, bad input
gets a message that says what to do."""
import os
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
cloudpickle = pytest.importorskip("cloudpickle")

import chainrule as cr                    # noqa: E402
import chainrule.dask as crd              # noqa: E402
import chainrule.numpy as jnp             # noqa: E402

rng = np.random.default_rng(0)
N, D = 103, 3                              # 103 rows in uneven chunks: the mean's weights matter
X = rng.standard_normal((N, D))
Y = (rng.uniform(size=N) < 1 / (1 + np.exp(-X @ np.array([1.0, -2.0, 0.5])))).astype(float)
W = np.array([0.3, -0.7, 0.2])


@pytest.fixture(scope="module")
def client():
    # the workers cannot import this test module: its functions travel by value
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                       dashboard_address=None, silence_logs=40)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()
    cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def logistic(w, X, y):
    """Summed negative log-likelihood of a chunk (separable: a sum over rows)."""
    z = X @ w
    return jnp.sum(jnp.logaddexp(0.0, z) - y * z)


def mean_logistic(w, X, y):
    return logistic(w, X, y) / X.shape[0]


def pytree_loss(params, data):
    """A dict of parameters, a dict of data arrays."""
    r = data["X"] @ params["w"] + params["b"] - data["y"]
    return jnp.sum(r ** 2) + jnp.sum(jnp.cos(params["w"]) * jnp.sum(data["X"], axis=0))


def chunked(a, rows=20):
    return da.from_array(a, chunks=(rows,) + (-1,) * (a.ndim - 1))


def close(a, b, rtol=1e-12):
    for x, y in zip(cr.tree_util.tree_leaves(a), cr.tree_util.tree_leaves(b)):
        np.testing.assert_allclose(x, y, rtol=rtol, atol=1e-12)


# ------------------------------------------------------------ on the cluster ---

def test_value_and_grad_sum_equals_the_single_process_gradient(client):
    dvg = crd.value_and_grad(logistic)
    v, g = dvg(W, chunked(X), chunked(Y, 25))          # chunks differ: Y is rechunked to X's
    v0, g0 = cr.value_and_grad(logistic)(W, X, Y)
    close((v, g), (v0, g0))
    p = 1 / (1 + np.exp(-X @ W))                      # the closed form
    np.testing.assert_allclose(g, X.T @ (p - Y), rtol=1e-12)


def test_reduce_mean_weights_chunks_by_their_rows(client):
    for rows in (10, 33, 103):
        v, g = crd.value_and_grad(mean_logistic, reduce="mean")(W, chunked(X, rows), chunked(Y, rows))
        close((v, g), cr.value_and_grad(mean_logistic)(W, X, Y))
    # an unweighted mean of chunk means would be wrong for uneven chunks: the weights are needed
    parts = [mean_logistic(W, X[i:i + 33], Y[i:i + 33]) for i in range(0, N, 33)]
    assert abs(np.mean(parts) - mean_logistic(W, X, Y)) > 1e-3


def test_pytree_params_and_data_with_jit(client):
    params = {"w": W, "b": 0.25}
    data = {"X": chunked(X, 30), "y": chunked(Y, 30)}
    v, g = crd.value_and_grad(pytree_loss, jit=True)(params, data)
    v0, g0 = cr.value_and_grad(pytree_loss)(params, {"X": X, "y": Y})
    close((v, g), (v0, g0))
    assert set(g) == {"w", "b"} and not isinstance(g["b"], np.ndarray)     # a scalar stays a scalar
    g2 = crd.grad(pytree_loss, jit=True)(params, data)
    close(g2, g0)


def test_jit_grad_is_compiled_on_the_workers_and_reused(client):
    dvg = crd.value_and_grad(logistic, jit=True)
    Xd, Yd = chunked(X, 40), chunked(Y, 40)            # chunks of 40, 40, 23: two signatures
    for w in (W, 2 * W):
        close(dvg(w, Xd, Yd), cr.value_and_grad(logistic)(w, X, Y))

    def compiled(token=dvg.shipped.token):
        import chainrule.dask as m
        fn = m._LIVE.get(token)
        return None if fn is None else sorted(len(s) for s in fn._cache.values())
    seen = [c for c in client.run(compiled).values() if c is not None]
    assert seen and all(c and all(n == 1 for n in c) for c in seen)   # compiled there, once per signature


def test_vmap_per_example_gradients_and_jacobians(client):
    per_example = crd.vmap(cr.grad(logistic), in_axes=(None, 0, 0), jit=True)
    G = per_example(W, chunked(X), chunked(Y))
    assert isinstance(G, da.Array) and G.chunks == ((20,) * 5 + (3,), (D,))
    p = 1 / (1 + np.exp(-X @ W))
    np.testing.assert_allclose(G.compute(), X * (p - Y)[:, None], rtol=1e-12)

    def f(x):
        return {"sq": x * x, "dot": jnp.array([jnp.sum(x * W), x[0] * x[1]])}
    J = crd.vmap(cr.jacfwd(f))(chunked(X, 17))
    assert J["sq"].shape == (N, D, D) and J["dot"].shape == (N, 2, D)
    Js, Jd = J["sq"].compute(), J["dot"].compute()
    np.testing.assert_allclose(Js, 2 * X[:, :, None] * np.eye(D), rtol=1e-14)
    np.testing.assert_allclose(Jd[:, 0], np.broadcast_to(W, (N, D)), rtol=1e-14)
    np.testing.assert_allclose(Jd[:, 1], np.c_[X[:, 1], X[:, 0], np.zeros(N)], rtol=1e-14)


def test_vmap_batch_axis_and_out_axes(client):
    Xt = chunked(X, 25).T.rechunk({0: -1})             # batch along axis 1
    out = crd.vmap(cr.grad(lambda x: jnp.sum(jnp.sin(x))), in_axes=1, out_axes=1)(Xt)
    np.testing.assert_allclose(out.compute(), np.cos(X).T, rtol=1e-14)


def test_hvp_matches_the_hessian_and_newton_cg_converges(client):
    scipy_optimize = pytest.importorskip("scipy.optimize")
    Xd, Yd = chunked(X, 30).persist(), chunked(Y, 30).persist()
    H = crd.hvp(logistic)
    v = np.array([1.0, -0.5, 2.0])
    np.testing.assert_allclose(H(W, v, Xd, Yd), cr.hessian(logistic)(W, X, Y) @ v, rtol=1e-12)
    p = 1 / (1 + np.exp(-X @ W))
    np.testing.assert_allclose(H(W, v, Xd, Yd), X.T @ (p * (1 - p) * (X @ v)), rtol=1e-12)

    dvg = crd.value_and_grad(logistic, jit=True)
    res = scipy_optimize.minimize(dvg, np.zeros(D), args=(Xd, Yd), jac=True, hessp=H,
                                  method="trust-krylov", options={"gtol": 1e-7})
    ref = scipy_optimize.minimize(cr.value_and_grad(logistic), np.zeros(D), args=(X, Y), jac=True,
                                  hessp=lambda w, u, X, y: cr.hvp(lambda q: logistic(q, X, y), (w,), (u,)),
                                  method="trust-krylov", options={"gtol": 1e-7})
    assert res.success and ref.success
    np.testing.assert_allclose(res.x, ref.x, rtol=1e-6)
    assert np.linalg.norm(cr.grad(logistic)(res.x, X, Y)) < 1e-6 < np.linalg.norm(cr.grad(logistic)(W, X, Y))


def test_default_scheduler_needs_no_pickling(client):
    lock = threading.Lock()                           # cannot be pickled

    def locked_loss(w, X, y):
        with lock:
            return logistic(w, X, y)
    want = cr.value_and_grad(logistic)(W, X, Y)
    for scheduler in ("threads", "sync"):
        with dask.config.set(scheduler=scheduler):
            close(crd.value_and_grad(locked_loss)(W, chunked(X), chunked(Y)), want)
    with pytest.raises(TypeError, match=r"cannot be pickled to ship it to the Dask workers.*'lock' \(lock\)"):
        crd.value_and_grad(locked_loss)(W, chunked(X), chunked(Y))     # the cluster needs pickling


@pytest.mark.slow
def test_a_worker_killed_mid_computation_is_retried(client):
    def slow_logistic(w, X, y):
        time.sleep(0.3)
        return logistic(w, X, y)
    dvg = crd.value_and_grad(slow_logistic)
    pids = client.run(os.getpid)                      # worker address -> its process id
    with ThreadPoolExecutor(1) as pool:
        fut = pool.submit(dvg, W, chunked(X, 13), chunked(Y, 13))      # 8 chunks, 4 per worker
        deadline = time.time() + 30
        while time.time() < deadline and not any(client.processing().values()):
            time.sleep(0.01)
        busy = [w for w, keys in client.processing().items() if keys]
        assert busy and not fut.done()
        os.kill(pids[busy[0]], signal.SIGKILL)                        # the process dies mid-task
        v, g = fut.result(timeout=60)
    close((v, g), cr.value_and_grad(logistic)(W, X, Y))
    assert busy[0] not in client.scheduler_info()["workers"]        # its tasks ran elsewhere


# ------------------------------------------------------------ bad input ---

def test_numpy_data_says_to_wrap_it():
    with pytest.raises(TypeError, match=r"data argument 1 is a ndarray of shape \(103, 3\), not a Dask array.*"
                       r"dask\.array\.from_array\(x, chunks=\(rows_per_chunk, -1\)\)"):
        crd.value_and_grad(logistic)(W, X, chunked(Y))
    with pytest.raises(TypeError, match=r"batched leaf 0 \(in_axes 0\) is a ndarray, not a Dask array.*"
                       "from_array"):
        crd.vmap(jnp.sin)(X)


def test_chunks_along_another_axis_say_to_rechunk():
    Xbad = da.from_array(X, chunks=(20, 2))
    with pytest.raises(ValueError, match=r"split into 2 chunks along axis 1.*x\.rechunk\(\{1: -1\}\)"):
        crd.value_and_grad(logistic)(W, Xbad, chunked(Y))
    with pytest.raises(ValueError, match=r"along axis 1.*rechunk\(\{1: -1\}\)"):
        crd.vmap(jnp.sin)(Xbad)


def test_other_bad_input():
    with pytest.raises(ValueError, match="reduce must be 'sum' or 'mean'"):
        crd.value_and_grad(logistic, reduce="median")
    with pytest.raises(ValueError, match="has 50 rows along its batch axis 0, but data argument 1 has 103"):
        crd.value_and_grad(logistic)(W, chunked(X), chunked(Y[:50]))
    with pytest.raises(ValueError, match="are both differentiated and chunked data"):
        crd.value_and_grad(logistic, argnums=(0, 1), data_argnums=(1, 2))(W, chunked(X), chunked(Y))
    with pytest.raises(TypeError, match="holds a Dask array but is not chunked data"):
        crd.value_and_grad(logistic, data_argnums=(1,))(W, chunked(X), chunked(Y))
    with pytest.raises(ValueError, match="unknown chunk sizes.*compute_chunk_sizes"):
        Xd = chunked(X)
        crd.value_and_grad(logistic)(W, Xd[Xd[:, 0] > 0], chunked(Y))
    with pytest.raises(ValueError, match="out_axes None .an output without a batch axis. is not supported"):
        crd.vmap(lambda x: (jnp.sin(x), jnp.ones(2)), out_axes=(0, None))(chunked(X))


def test_data_argnums_broadcasts_the_rest():
    def weighted(w, X, y, scale):
        return scale * logistic(w, X, y)
    with dask.config.set(scheduler="sync"):
        v, g = crd.value_and_grad(weighted, data_argnums=(1, 2))(W, chunked(X), chunked(Y), 3.0)
    close((v, g), cr.value_and_grad(weighted)(W, X, Y, 3.0))


def test_missing_dask_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "dask", None)
    with pytest.raises(ImportError, match=r'pip install "chainrule\[dask\]"'):
        crd.value_and_grad(logistic)(W, X, Y)
