"""LightGBM on a Dask cluster (``scoring train --cluster ADDRESS``): the CV folds and the refit
boosted by LightGBM's distributed data-parallel training (``lightgbm.dask``).

The run is the same as on one machine: the same stratified folds, one number of rounds for all
folds chosen on the mean held-out AUC with the same patience, OOF margins at that round, the
same calibration, threshold and registration. What LightGBM's Dask interface cannot do is done
on the client, and the run says so in its ``cluster_local_steps`` tag (``LOCAL_STEPS``):

- it has no callbacks, so no early stopping: each fold is boosted to ``max_rounds`` and the
  early-stopping rule of ``lgb.cv`` is replayed on the folds' held-out AUC per round;
- held-out margins (OOF), SHAP values and every metric are computed on the client from the
  fitted boosters (a booster is small: prediction needs no cluster);
- the baselines (prior, logistic regression) are fitted on the client;
- ``lgb.cv`` bins every fold on all rows, the Dask folds on their training rows only, so the
  numbers differ slightly from a local run, not the procedure.

The labelled rows are loaded on the client (``training.dataset``) and sent to the workers in
``partitions`` pieces per fold.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
from sklearn.metrics import roc_auc_score

from training import train as fit
from training.train import CVResult, Split, fold_pairs

#: Steps a cluster run does on the client (logged as the ``cluster_local_steps`` tag).
LOCAL_STEPS = ("early stopping replayed on the held-out AUC per round; OOF margins, SHAP and "
               "metrics predicted on the client; baselines fitted on the client")


@dataclass
class DaskTrainer:
    """Fits LightGBM through a Dask client; ``cv`` and ``refit`` stand in for ``training.train``'s
    ``cv_lightgbm`` and ``refit_lightgbm``."""

    client: Any  # distributed.Client
    max_rounds: int = 2000  # most rounds a fold is boosted to (no early stopping on Dask)
    partitions: int = 0  # pieces per frame sent to the workers; 0: one per worker

    def _pieces(self) -> int:
        return self.partitions or max(1, len(self.client.scheduler_info()["workers"]))

    def _fit(self, data: Split, rows: np.ndarray, params: dict[str, Any], rounds: int,
             ) -> lgb.Booster:
        import dask.dataframe as dd
        import pandas as pd
        from lightgbm.dask import DaskLGBMClassifier

        X = dd.from_pandas(data.X.iloc[rows], npartitions=self._pieces())
        y = dd.from_pandas(pd.Series(data.y[rows], index=data.X.index[rows]),
                           npartitions=self._pieces())
        # threads are the workers' own; rounds are given here
        settings = {k: v for k, v in params.items() if k not in (
            "num_iterations", "num_boost_round", "n_estimators", "metric", "num_threads")}
        model = DaskLGBMClassifier(client=self.client, n_estimators=rounds, **settings)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Parameter n_jobs will be ignored")
            return model.fit(X, y).to_local().booster_

    def cv(self, data: Split, fold: np.ndarray, params: dict[str, Any],
           max_rounds: int = 2000, patience: int = 100) -> CVResult:
        """``training.train.cv_lightgbm`` on the cluster: each fold boosted to ``max_rounds``,
        then the round chosen by ``lgb.cv``'s early-stopping rule on the mean held-out AUC."""
        start = time.perf_counter()
        pairs = fold_pairs(fold)
        max_rounds = min(max_rounds, self.max_rounds)
        boosters = [self._fit(data, train, params, max_rounds) for train, _ in pairs]
        margins = [_margins_per_round(b, data.X.iloc[held]) for b, (_, held) in
                   zip(boosters, pairs, strict=True)]
        rounds = early_stop_round(
            lambda r: np.mean([roc_auc_score(data.y[held], m[:, r])
                               for m, (_, held) in zip(margins, pairs, strict=True)]),
            min(m.shape[1] for m in margins), patience)
        oof = np.empty(len(data.y))
        for m, (_, held) in zip(margins, pairs, strict=True):
            oof[held] = m[:, rounds - 1]
        return CVResult("lightgbm", oof, dict(params), time.perf_counter() - start, rounds)

    def refit(self, data: Split, params: dict[str, Any], rounds: int) -> lgb.Booster:
        """``training.train.refit_lightgbm`` on the cluster: every client, ``rounds`` rounds."""
        return self._fit(data, np.arange(len(data.y)), params, rounds)


CrossValidate = Callable[..., CVResult]
Refit = Callable[[Split, dict[str, Any], int], lgb.Booster]


@contextmanager
def lightgbm_steps(address: str = "", max_rounds: int = 2000,
                   ) -> Iterator[tuple[CrossValidate, Refit]]:
    """The LightGBM cross-validation and refit of a run: ``training.train``'s on this machine
    without ``address``, else a ``DaskTrainer``'s, connected to the Dask scheduler at
    ``address`` (e.g. ``tcp://10.0.0.5:8786``) until the block ends."""
    if not address:
        yield fit.cv_lightgbm, fit.refit_lightgbm
        return
    from dask.distributed import Client

    with Client(address) as client:  # lightgbm.dask waits on the default client
        trainer = DaskTrainer(client, max_rounds)
        yield trainer.cv, trainer.refit


def _margins_per_round(booster: lgb.Booster, X: Any) -> np.ndarray:
    """Raw margins of ``X`` after each round (rows x rounds), one tree at a time."""
    per_tree = [booster.predict(X, raw_score=True, start_iteration=i, num_iteration=1)
                for i in range(booster.num_trees())]
    return np.cumsum(np.column_stack(per_tree), axis=1)


def early_stop_round(score: Any, max_rounds: int, patience: int) -> int:
    """The number of rounds ``lgb.early_stopping`` keeps: the best of ``score(round index)``
    (higher is better, strictly), stopping ``patience`` rounds after it."""
    best, best_round = -np.inf, 0
    for r in range(max_rounds):
        value = score(r)
        if value > best:
            best, best_round = value, r
        elif r - best_round >= patience:
            break
    return best_round + 1
