"""Your own data as a task stream: image folders of PNGs written by the test, .npz arrays, the decode cache, the
allowed data roots, and every kind of bad data refused in one line before anything is stored."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from own_data import ARRAY_KINDS, FOLDER_KINDS, arrays_file, bad_arrays, bad_folder, domain_folder, image_folder

from bench.benchmarks import image_decode, own_files
from bench.benchmarks import image_folder as folder_mod
from bench.cli import main
from bench.registry import validate
from bench.results.store import Store
from bench.spec.config import RunConfig
from bench.spec.params import BadInput


@pytest.fixture
def roots(tmp_path, monkeypatch) -> Path:
    """tmp_path/data is the one allowed data root; decoded data is cached under tmp_path/cache."""
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("BENCH_DATA_ROOTS", str(data))
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    image_decode._cached_mode.cache_clear()
    return data


def cfg(benchmark: str, scenario: str = "class", **params) -> RunConfig:
    return validate(RunConfig(benchmark=benchmark, scenario=scenario, strategy="naive", benchmark_params=params))


def stream(benchmark: str, scenario: str = "class", seed: int = 0, **params):
    from bench.benchmarks import get_benchmark

    c = cfg(benchmark, scenario, **params)
    return get_benchmark(benchmark).build(c.benchmark_params, scenario, seed=seed)


# -- image folders ------------------------------------------------------------------------------------------------

def test_an_image_folder_is_cut_by_class_with_imagefolder_labels_and_a_fixed_split(roots):
    from PIL import Image

    root = image_folder(roots / "shapes", classes=5, per_class=10, names=["ant", "bee", "cat", "dog", "eel"])
    s = stream("image-folder", path=str(root))
    assert s.input_shape == (1, 12, 12) and s.n_classes == 5 and s.n_outputs == 5 and len(s.experiences) == 2
    assert s.info["class_names"] == ["ant", "bee", "cat", "dog", "eel"]  # sorted folder names, as ImageFolder
    assert sum(len(e.test_x) for e in s.experiences) == 10  # 20 % of each class: 2 of 10
    # pixels are the files' own, scaled to [0, 1]: the first test image of each class is one of that class's files
    pics = {c: [np.asarray(Image.open(p), dtype=np.float32) / 255 for p in sorted((root / n).iterdir())]
            for c, n in enumerate(s.info["class_names"])}
    for e in s.experiences:
        for x, c in zip(e.test_x, e.test_cls, strict=True):
            assert any(np.allclose(x[0].numpy(), p) for p in pics[int(c)])
    # the held-out images do not depend on the run's seed; the class order does
    other = stream("image-folder", seed=3, path=str(root))
    test_a = sorted(float(x.sum()) for e in s.experiences for x in e.test_x)
    test_b = sorted(float(x.sum()) for e in other.experiences for x in e.test_x)
    assert test_a == test_b
    assert s.info["class_groups"] != other.info["class_groups"]


def test_train_and_test_folders_resize_and_colour(roots):
    image_folder(roots / "tt" / "train", classes=6, per_class=3, size=20, rgb=True)
    image_folder(roots / "tt" / "test", classes=6, per_class=1, size=20, rgb=True, seed=1)
    s = stream("image-folder", "task", path=str(roots / "tt"), size=8, n_experiences=3)  # two classes per task
    assert s.input_shape == (3, 8, 8) and s.n_heads == 3 and s.n_outputs == 2
    assert [len(e.train_x) for e in s.experiences] == [6, 6, 6] and [len(e.test_x) for e in s.experiences] == [2] * 3
    grey = stream("image-folder", path=str(roots / "tt"), size=8, color="grey")
    assert grey.input_shape == (1, 8, 8)


def test_domain_folders_give_one_experience_per_domain(roots):
    root = domain_folder(roots / "doms", domains=3, classes=3)
    s = stream("image-folder", "domain", path=str(root))
    assert s.info["groups"] == ["domain0", "domain1", "domain2"] and s.n_outputs == 3 and s.n_heads == 1
    for e in s.experiences:
        assert e.classes == (0, 1, 2) and set(e.test_y.tolist()) == {0, 1, 2}
    assert not np.allclose(s.experiences[0].test_x.mean(), s.experiences[2].test_x.mean())  # brighter domains
    with pytest.raises(BadInput, match="same classes.*use the domain or task scenario"):
        cfg("image-folder", "class", path=str(root))
    with pytest.raises(BadInput, match="does not match the data's 3 groups"):
        cfg("image-folder", "domain", path=str(root), n_experiences=2)


def test_the_decode_cache_is_keyed_by_content_and_settings(roots):
    root = image_folder(roots / "c", classes=2, per_class=3)
    scan = folder_mod.scan_folder(str(root))
    path, mode, decoded = image_decode.ensure_decoded(scan.entries, 0, "auto")
    assert decoded and path.exists() and path.parent == roots.parent / "cache" / "decoded" and mode == "L"
    image_decode._cached_mode.cache_clear()  # a new process: the file, not the memory, says it is cached
    assert image_decode.ensure_decoded(scan.entries, 0, "auto")[2] is False
    assert image_decode.ensure_decoded(scan.entries, 6, "auto")[2] is True  # another size is another entry
    f = root / "class_a" / "000.png"
    os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 10**9))  # the file changed
    assert image_decode.ensure_decoded(folder_mod.scan_folder(str(root)).entries, 0, "auto")[2] is True
    assert not list(path.parent.glob("*.tmp"))  # atomic writes leave no partial files


def test_the_preview_shows_classes_counts_and_one_image_per_class(roots):
    root = image_folder(roots / "p", classes=4, per_class=5, rgb=True)
    pv = folder_mod.preview(cfg("image-folder", path=str(root), n_experiences=2).benchmark_params)
    assert pv.class_names == ["class_a", "class_b", "class_c", "class_d"]
    assert pv.title.startswith("20 images in 4 classes, 12x12 RGB: 2 experiences")
    assert [(r["train"], r["test"]) for r in pv.experiences] == [(8, 2), (8, 2)]
    s = stream("image-folder", path=str(root), n_experiences=2)
    assert [r["classes"] for r in pv.experiences] == [", ".join(pv.class_names[c] for c in g)
                                                      for g in s.info["class_groups"]]  # the stream's own cut
    assert [name for name, _ in pv.samples] == pv.class_names and pv.samples[0][1].shape == (12, 12, 3)


def test_the_cli_runs_an_image_folder_in_the_class_and_task_scenarios(roots, tmp_path, capsys):
    """The issue's check: generated PNGs, `--benchmark image-folder` from the CLI, rows in the store. The patterns
    are learnable, so each experience is learned far above chance: the labels reach the model correctly."""
    root = image_folder(roots / "cli", classes=4, per_class=12)
    store = tmp_path / "s.duckdb"
    for scenario in ("class", "task"):
        code = main(["run", "--benchmark", "image-folder", "--scenario", scenario, "--strategy", "naive",
                     "--bench-param", f"path={root}", "--epochs", "30", "--store", str(store), "--json"])
        assert code == 0
        out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        R = np.array(out["accuracy_matrix"])
        assert out["status"] == "finished" and R.shape == (2, 2)
        assert R[0, 0] >= 0.9 and R[1, 1] >= 0.9, R  # chance is 0.25 (class) or 0.5 (task)
    runs = Store(store).query("SELECT benchmark, scenario, status, n_experiences FROM runs ORDER BY created_at")
    assert runs.values.tolist() == [["image-folder", "class", "finished", 2], ["image-folder", "task", "finished", 2]]


# -- arrays --------------------------------------------------------------------------------------------------------

def test_arrays_are_cut_by_class_or_by_task_id(roots):
    f = arrays_file(roots / "a.npz", classes=4, dim=6)
    s = stream("arrays", path=str(f))
    assert s.input_shape == (6,) and len(s.experiences) == 2 and s.n_outputs == 4
    a = np.load(f)
    assert np.allclose(sorted(float(v) for e in s.experiences for v in e.test_x.sum(1)), sorted(a["x_test"].sum(1)))
    t = arrays_file(roots / "t.npz", classes=4, tasks=True)
    s = stream("arrays", "task", path=str(t))
    assert [e.classes for e in s.experiences] == [(0, 1), (2, 3)] and s.n_heads == 2
    assert s.experiences[1].train_y.unique().tolist() == [0, 1]  # within-task labels
    assert stream("arrays", "class", path=str(t)).experiences[1].train_y.unique().tolist() == [2, 3]


# -- bad data: one line naming the file and the problem ----------------------------------------------------------------

@pytest.mark.parametrize("kind", FOLDER_KINDS)
def test_bad_image_folders_are_refused_in_one_line(roots, tmp_path, kind):
    outside = tmp_path / "outside"
    params, fragment = bad_folder(kind, roots, outside)
    with pytest.raises(BadInput) as err:
        cfg("image-folder", **params)
    msg = str(err.value)
    assert fragment in msg and "\n" not in msg and msg.startswith("image-folder: "), msg
    assert not list((tmp_path / "cache").glob("decoded/*.npz"))  # nothing decoded into the cache either


@pytest.mark.parametrize("kind", ARRAY_KINDS)
def test_bad_arrays_are_refused_in_one_line(roots, kind):
    f, fragment = bad_arrays(kind, roots)
    with pytest.raises(BadInput) as err:
        cfg("arrays", path=str(f))
    msg = str(err.value)
    assert msg.startswith(f"arrays: {f}: ") and fragment in msg and "\n" not in msg, msg


def test_the_default_roots_are_the_data_directory_and_home(monkeypatch, tmp_path):
    monkeypatch.delenv("BENCH_DATA_ROOTS", raising=False)
    monkeypatch.setenv("BENCH_DATA_DIR", str(tmp_path / "dd"))
    assert own_files.data_roots() == [Path(os.path.realpath(tmp_path / "dd")), Path(os.path.realpath(Path.home()))]
    with pytest.raises(BadInput, match="outside the allowed data roots"):
        own_files.resolve_user_path("/etc", owner="x")
