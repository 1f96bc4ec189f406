"""Data travels with the job: named data is made where a job runs (the job carries
its name, not its rows); a data file is read once on the client and is one object
in every job, so a cluster scatters it once."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from clitools import gdcli

from gdcli import data
from gdcli.experiments import cluster, compare
from gdcli.experiments import plan as planning
from gdcli.experiments.config import CompareConfig, validate
from gdcli.yamlio import Document, apply_override


def write_csv(path: Path, rows: int = 900) -> Path:
    """A binary task of ``rows`` rows and 6 features (about 60 KB: scattered, not inline)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, 6))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    lines = ["a,b,c,d,e,f,label"]
    lines += [",".join(f"{v:.6f}" for v in x) + f",{t}" for x, t in zip(X, y, strict=True)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def compare_doc(data_spec: dict[str, Any], tmp_path: Path, *sets: str) -> Path:
    config = {
        "name": "travel",
        "data": data_spec,
        "model": {"hidden": [4]},
        "optimizer": {"name": "adam", "lr": 0.01},
        "epochs": 2,
        "activations": ["tanh", "relu", "sigmoid"],
        "seeds": [0, 1],
    }
    path = tmp_path / "compare.yaml"
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


def planned(path: Path) -> compare.ComparePlan:
    doc = Document(json.loads(path.read_text(encoding="utf-8")), str(path))
    return planning.compare_plan(validate(doc, CompareConfig), doc)


def spy(monkeypatch: pytest.MonkeyPatch, name: str) -> list[Any]:
    calls: list[Any] = []
    real = getattr(data, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(data, name, counted)
    return calls


def test_a_csv_is_read_once_for_every_pair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    csv = write_csv(tmp_path / "table.csv")
    config = compare_doc({"csv": str(csv), "target": "label", "test_fraction": 0.2}, tmp_path)
    reads = spy(monkeypatch, "load_csv")
    result = gdcli("compare-activations", config, "--out", tmp_path / "run", "--json")
    assert result.exit_code == 0, result.stderr
    runs = json.loads(result.stdout)["runs"]
    assert len(runs) == 6 and all(r["status"] == "finished" for r in runs)
    assert len(reads) == 1  # was 1 + one per (activation, seed) pair


def test_a_sweep_reads_its_data_file_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    csv = write_csv(tmp_path / "table.csv", rows=120)
    config = tmp_path / "train.yaml"
    spec = {
        "name": "swept",
        "data": {"csv": str(csv), "target": "label"},
        "model": {"hidden": [4], "activation": "tanh"},
        "optimizer": {"name": "adam", "lr": 0.01},
        "epochs": 2,
        "sweep": {"optimizer.lr": [0.1, 0.01, 0.001]},
    }
    config.write_text(json.dumps(spec), encoding="utf-8")
    reads = spy(monkeypatch, "load_csv")
    result = gdcli("train-mlp", config, "--out", tmp_path / "sweep", "--json")
    assert result.exit_code == 0, result.stderr
    assert len(json.loads(result.stdout)["points"]) == 3
    assert len(reads) == 1


def test_every_job_holds_the_one_read_of_the_file(tmp_path: Path) -> None:
    """The same object in every job: a cluster finds it held by all and scatters it
    once; each job's message then carries a reference, not the rows."""
    csv = write_csv(tmp_path / "table.csv")
    plan = planned(compare_doc({"csv": str(csv), "target": "label"}, tmp_path))
    jobs = list(plan.jobs)
    assert len({id(job.plan.read) for job in jobs}) == 1  # type: ignore[union-attr]

    class Scatters:
        calls = 0

        def scatter(self, a: Any, **kw: Any) -> str:
            Scatters.calls += 1
            return "future"

    ex = cluster.DaskExecutor.__new__(cluster.DaskExecutor)
    ex.client, ex._shared = Scatters(), {}
    ex.share(jobs)
    assert Scatters.calls == 1  # the rows X, once for all 6 jobs (y is small: inline)
    found: dict[str, np.ndarray] = {}
    sent = [cluster._strip(job, found, ex._shared.__contains__) for job in jobs]
    assert all(len(pickle.dumps(job)) < 20_000 for job in sent)
    assert len(pickle.dumps(jobs[0])) > 40_000  # the rows themselves, before


@pytest.mark.parametrize("name", ["breast_cancer", "digits"])
def test_a_bundled_set_travels_by_name(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job's message does not grow with the bundled set: the worker loads it."""
    plan = planned(compare_doc({"name": name, "test_fraction": 0.25}, tmp_path))
    job = plan.jobs[4]
    nbytes = data.load_bundled(name).X.nbytes  # 136,560 and 920,064 bytes
    message = pickle.dumps(job)
    assert len(message) < 12_000 < nbytes
    loads = spy(monkeypatch, "load_bundled")
    there = pickle.loads(message).plan.build()
    assert loads == [(name,)]  # made where the job runs, by its name
    doc = Document(json.loads((tmp_path / "compare.yaml").read_text(encoding="utf-8")), "x")
    apply_override(doc, f"seed={job.seed}")
    here = planning.train_plan(validate(doc, CompareConfig), doc).splits
    np.testing.assert_array_equal(there.splits.train.X, here.train.X)
    np.testing.assert_array_equal(there.splits.test.X, here.test.X)  # type: ignore[union-attr]


def test_the_client_reads_a_bundled_set_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loads = spy(monkeypatch, "load_bundled")
    planned(compare_doc({"name": "breast_cancer"}, tmp_path))
    assert len(loads) == 1  # was 1 + one per pair


def test_a_training_sweep_point_travels_without_its_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gdcli.experiments.config import TrainConfig
    from gdcli.experiments.sweep import PointJob

    spec = {
        "name": "swept",
        "data": {"name": "digits", "test_fraction": 0.25},
        "model": {"hidden": [8], "activation": "tanh"},
        "optimizer": {"name": "adam", "lr": 0.01},
        "epochs": 1,
    }
    loads = spy(monkeypatch, "load_bundled")
    doc = Document(spec, str(tmp_path / "train.yaml"))
    sweep = planning.sweep_plan("train-mlp", doc, TrainConfig, {"optimizer.lr": [0.1, 0.01]})
    assert len(loads) == 1  # once for both points, on the client
    job = PointJob(sweep.points[1], sweep.plans[1], str(tmp_path / "p"))
    assert len(pickle.dumps(job)) < 12_000 < data.load_bundled("digits").X.nbytes
    built = pickle.loads(pickle.dumps(job.plan)).build()  # type: ignore[union-attr]
    here = planning.train_plan(
        validate(planning.point_document(doc, sweep.points[1]), TrainConfig), doc
    )
    np.testing.assert_array_equal(built.splits.train.X, here.splits.train.X)
    assert built.optimizer_recipe == here.optimizer_recipe
