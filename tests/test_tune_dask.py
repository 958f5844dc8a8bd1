"""Trials on a real dask.distributed LocalCluster give the serial results."""
import pytest

from tinygrad_bn import tune
from tinygrad_bn.tune import objectives as obj

distributed = pytest.importorskip("dask.distributed")


def _key(study):
    return sorted((t.index, tuple(sorted(t.params.items())), t.value, t.state) for t in study.trials)


def test_dask_local_cluster_matches_serial_and_process_pool():
    serial = tune.Study("d", obj.log_bowl_space())
    serial.optimize(obj.cpu_burn, 6, seed=17)
    pooled = tune.Study("d", obj.log_bowl_space())
    pooled.optimize(obj.cpu_burn, 6, seed=17, n_jobs=2)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        on_dask = tune.Study("d", obj.log_bowl_space())
        on_dask.optimize(obj.cpu_burn, 6, seed=17, executor=client)
        workers = set(client.run(lambda dask_worker: dask_worker.address))
        assert len(workers) == 2
    assert _key(on_dask) == _key(serial) == _key(pooled)
    assert all(t.state == "complete" for t in on_dask.trials)


def test_dask_with_pruning_and_failures():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        study = tune.Study("dp", {"lr": tune.LogUniform(1e-5, 1.0),
                                  "beta": tune.OneMinusLogUniform(0.8, 0.9999),
                                  "units": tune.IntUniform(4, 1024, log=True)})
        study.optimize(obj.failing_sometimes, 10, seed=1, executor=client)
        assert len(study.trials) == 10
        assert {t.state for t in study.trials} >= {"complete", "failed"}
