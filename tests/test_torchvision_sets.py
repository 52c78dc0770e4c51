"""The torchvision-backed streams, read from tiny files written here in torchvision's own on-disk formats."""
from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.benchmarks import get_benchmark
from bench.benchmarks import torchvision_sets as tvs
from bench.spec.params import BadInput, validate_params

N_TRAIN, N_TEST = 30, 10


# --- writers for torchvision's formats -------------------------------------------------------------------------

def _write_idx(path: Path, arr: np.ndarray) -> None:
    """An uncompressed idx-ubyte file: magic 0x00000800 + ndim (type 0x08 = unsigned byte), big-endian dims."""
    assert arr.dtype == np.uint8
    path.parent.mkdir(parents=True, exist_ok=True)
    header = struct.pack(">I", 0x0800 + arr.ndim) + b"".join(struct.pack(">I", d) for d in arr.shape)
    path.write_bytes(header + arr.tobytes())


def write_mnist(root: Path, folder: str = "MNIST", seed: int = 0) -> dict:
    """<root>/<folder>/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte, as torchvision's MNIST reads them."""
    rng = np.random.RandomState(seed)
    data = {
        "train_x": rng.randint(0, 256, size=(N_TRAIN, 28, 28)).astype(np.uint8),
        "train_y": (np.arange(N_TRAIN) % 10).astype(np.uint8),
        "test_x": rng.randint(0, 256, size=(N_TEST, 28, 28)).astype(np.uint8),
        "test_y": (np.arange(N_TEST) % 10)[::-1].astype(np.uint8),
    }
    raw = root / folder / "raw"
    for prefix, split in (("train", "train"), ("t10k", "test")):
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", data[f"{split}_x"])
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", data[f"{split}_y"])
    return data


def _pickle(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(obj, f)


def write_cifar10(root: Path, seed: int = 0) -> dict:
    """<root>/cifar-10-batches-py/data_batch_1..5, test_batch, batches.meta: rows of 3072 bytes (R, G, B planes)."""
    rng = np.random.RandomState(seed)
    data = {
        "train_x": rng.randint(0, 256, size=(N_TRAIN, 3072)).astype(np.uint8),
        "train_y": [i % 10 for i in range(N_TRAIN)],
        "test_x": rng.randint(0, 256, size=(N_TEST, 3072)).astype(np.uint8),
        "test_y": [(3 * i) % 10 for i in range(N_TEST)],
    }
    folder = root / "cifar-10-batches-py"
    per = N_TRAIN // 5
    for b in range(5):
        sl = slice(b * per, (b + 1) * per)
        _pickle(folder / f"data_batch_{b + 1}",
                {"batch_label": f"training batch {b + 1} of 5", "data": data["train_x"][sl],
                 "labels": data["train_y"][sl], "filenames": [f"img{i}.png" for i in range(per)]})
    _pickle(folder / "test_batch", {"batch_label": "testing batch 1 of 1", "data": data["test_x"],
                                    "labels": data["test_y"], "filenames": [f"t{i}.png" for i in range(N_TEST)]})
    _pickle(folder / "batches.meta", {"label_names": [f"class{c}" for c in range(10)],
                                      "num_cases_per_batch": per, "num_vis": 3072})
    return data


def write_cifar100(root: Path, seed: int = 0) -> dict:
    """<root>/cifar-100-python/{train,test,meta} with fine_labels (and coarse_labels, which torchvision ignores)."""
    rng = np.random.RandomState(seed)
    n_train = 200  # two images of each of the 100 classes
    data = {
        "train_x": rng.randint(0, 256, size=(n_train, 3072)).astype(np.uint8),
        "train_y": [i % 100 for i in range(n_train)],
        "test_x": rng.randint(0, 256, size=(N_TEST * 10, 3072)).astype(np.uint8),
        "test_y": [i % 100 for i in range(N_TEST * 10)],
    }
    folder = root / "cifar-100-python"
    for split in ("train", "test"):
        y = data[f"{split}_y"]
        _pickle(folder / split, {"data": data[f"{split}_x"], "fine_labels": y, "coarse_labels": [c // 5 for c in y],
                                 "filenames": [f"{split}{i}.png" for i in range(len(y))]})
    _pickle(folder / "meta", {"fine_label_names": [f"fine{c}" for c in range(100)],
                              "coarse_label_names": [f"coarse{c}" for c in range(20)]})
    return data


# --- loading --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,folder", [("split-mnist", "MNIST"), ("split-fmnist", "FashionMNIST")])
def test_mnist_family_loads_what_was_written(tmp_path, name, folder):
    data = write_mnist(tmp_path, folder)
    raw = get_benchmark(name).load({}, str(tmp_path))
    assert raw.train_x.shape == (N_TRAIN, 1, 28, 28) and raw.test_x.shape == (N_TEST, 1, 28, 28)
    assert raw.train_x.dtype == torch.float32 and raw.train_y.dtype == torch.long
    assert 0.0 <= raw.train_x.min() and raw.train_x.max() <= 1.0
    assert raw.n_classes == 10
    assert raw.train_y.tolist() == data["train_y"].tolist()
    assert raw.test_y.tolist() == data["test_y"].tolist()
    # a few pixels by hand: image i, row r, column c
    for i, r, c in [(0, 0, 0), (3, 5, 17), (29, 27, 27)]:
        assert raw.train_x[i, 0, r, c].item() == pytest.approx(data["train_x"][i, r, c] / 255.0)
    assert raw.test_x[9, 0, 13, 2].item() == pytest.approx(data["test_x"][9, 13, 2] / 255.0)


def test_mnist_legacy_processed_files_are_accepted(tmp_path):
    x = torch.randint(0, 256, (N_TRAIN, 28, 28), dtype=torch.uint8)
    y = torch.arange(N_TRAIN) % 10
    processed = tmp_path / "MNIST" / "processed"
    processed.mkdir(parents=True)
    torch.save((x, y), processed / "training.pt")
    torch.save((x[:N_TEST], y[:N_TEST]), processed / "test.pt")
    raw = get_benchmark("split-mnist").load({}, str(tmp_path))
    assert raw.train_x.shape == (N_TRAIN, 1, 28, 28)
    assert raw.train_x[4, 0, 7, 9].item() == pytest.approx(x[4, 7, 9].item() / 255.0)


def test_cifar10_loads_what_was_written(tmp_path):
    data = write_cifar10(tmp_path)
    raw = get_benchmark("split-cifar10").load({}, str(tmp_path))
    assert raw.train_x.shape == (N_TRAIN, 3, 32, 32) and raw.test_x.shape == (N_TEST, 3, 32, 32)
    assert raw.train_x.dtype == torch.float32 and raw.test_y.dtype == torch.long
    assert 0.0 <= raw.train_x.min() and raw.train_x.max() <= 1.0
    assert raw.n_classes == 10
    assert raw.train_y.tolist() == data["train_y"] and raw.test_y.tolist() == data["test_y"]
    # CIFAR rows hold the 1024 red, then green, then blue bytes, each plane row-major: flat = ch*1024 + r*32 + c
    for i, ch, r, c in [(0, 0, 0, 0), (7, 1, 3, 30), (29, 2, 31, 31), (12, 2, 16, 0)]:
        expected = data["train_x"][i, ch * 1024 + r * 32 + c] / 255.0
        assert raw.train_x[i, ch, r, c].item() == pytest.approx(expected)
    assert raw.test_x[5, 1, 10, 20].item() == pytest.approx(data["test_x"][5, 1024 + 10 * 32 + 20] / 255.0)


def test_cifar100_loads_fine_labels(tmp_path):
    data = write_cifar100(tmp_path)
    raw = get_benchmark("split-cifar100").load({}, str(tmp_path))
    assert raw.n_classes == 100
    assert raw.train_x.shape == (200, 3, 32, 32) and raw.test_x.shape == (N_TEST * 10, 3, 32, 32)
    assert raw.train_y.tolist() == data["train_y"] and raw.test_y.tolist() == data["test_y"]
    assert raw.train_x[150, 2, 4, 5].item() == pytest.approx(data["train_x"][150, 2048 + 4 * 32 + 5] / 255.0)


def test_data_dir_falls_back_to_the_environment_variable(tmp_path, monkeypatch):
    write_mnist(tmp_path)
    monkeypatch.setenv("BENCH_DATA_DIR", str(tmp_path))
    assert tvs.resolve_data_dir(None) == tmp_path.resolve()
    assert get_benchmark("split-mnist").load({}, None).train_x.shape == (N_TRAIN, 1, 28, 28)
    monkeypatch.delenv("BENCH_DATA_DIR")
    assert tvs.resolve_data_dir(None) == Path("~/.cache/bench/data").expanduser().resolve()


# --- streams ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,writer", [("split-mnist", write_mnist), ("split-fmnist",
                                          lambda root: write_mnist(root, "FashionMNIST")),
                                         ("split-cifar10", write_cifar10), ("split-cifar100", write_cifar100)])
@pytest.mark.parametrize("scenario", ["class", "task", "domain"])
def test_split_streams_have_disjoint_classes(tmp_path, name, writer, scenario):
    writer(tmp_path)
    spec = get_benchmark(name)
    params = validate_params(spec.params, {}, owner=name)
    stream = spec.build(params, scenario, seed=0, data_dir=str(tmp_path))
    assert len(stream.experiences) == params["n_experiences"]
    seen: set[int] = set()
    for exp in stream.experiences:
        classes = set(exp.train_cls.tolist()) | set(exp.test_cls.tolist())
        assert classes <= set(exp.classes)
        assert not classes & seen
        seen |= set(exp.classes)
    assert seen == set(range(stream.n_classes))


def test_permuted_mnist_permutes_pixels(tmp_path):
    write_mnist(tmp_path)
    spec = get_benchmark("permuted-mnist")
    assert spec.kind == "domain" and spec.scenarios == ("domain", "task")
    params = validate_params(spec.params, {"n_experiences": 3}, owner=spec.name)
    stream = spec.build(params, "domain", seed=0, data_dir=str(tmp_path))
    e0, e1 = stream.experiences[0], stream.experiences[1]
    assert e1.train_x.shape == e0.train_x.shape == (N_TRAIN, 1, 28, 28)
    assert not torch.equal(e0.train_x, e1.train_x)
    assert torch.equal(e0.train_y, e1.train_y)
    flat0, flat1 = e0.train_x.reshape(N_TRAIN, -1), e1.train_x.reshape(N_TRAIN, -1)
    # one pixel permutation for every image: each column of experience 1 (a pixel across all images) is a
    # column of experience 0, and together they use every column of experience 0 once
    where0 = {tuple(col.tolist()): k for k, col in enumerate(flat0.T)}
    assert len(where0) == 784  # random pixels: the columns are distinct
    sigma = [where0[tuple(col.tolist())] for col in flat1.T]
    assert sorted(sigma) == list(range(784)) and sigma != list(range(784))
    assert torch.equal(flat1, flat0[:, sigma])
    test0, test1 = e0.test_x.reshape(N_TEST, -1), e1.test_x.reshape(N_TEST, -1)
    assert torch.equal(test1, test0[:, sigma])  # the same permutation on the test images
    e2 = stream.experiences[2]
    assert not torch.equal(e2.train_x, e1.train_x)


# --- specs and errors -------------------------------------------------------------------------------------------

def test_specs():
    by_name = {s.name: s for s in tvs.SPECS}
    assert list(by_name) == ["split-mnist", "permuted-mnist", "split-fmnist", "split-cifar10", "split-cifar100"]
    for s in tvs.SPECS:
        assert s.offline is False
        assert s.default_model == ("cnn" if "cifar" in s.name else "mlp")
        n_exp = next(p for p in s.params if p.name == "n_experiences")
        # permuted MNIST takes up to 20 permutations (A-GEM's 17, the DER paper's 20), like permuted digits
        want = {"split-cifar100": (10, 100), "permuted-mnist": (5, 20)}.get(s.name, (5, 10))
        assert (n_exp.default, n_exp.max) == want
        if s.kind == "split":
            assert s.scenarios == ("class", "task", "domain")
            assert [p.name for p in s.params] == ["n_experiences", "class_order"]


@pytest.mark.parametrize("name,expected", [
    ("split-mnist", "MNIST/raw/train-images-idx3-ubyte"),
    ("permuted-mnist", "MNIST/raw/t10k-labels-idx1-ubyte"),
    ("split-fmnist", "FashionMNIST/raw/train-labels-idx1-ubyte"),
    ("split-cifar10", "cifar-10-batches-py/data_batch_1"),
    ("split-cifar100", "cifar-100-python/meta"),
])
def test_missing_files_raise_one_line_bad_input(tmp_path, name, expected):
    where = tmp_path / "nowhere"
    with pytest.raises(BadInput) as err:
        get_benchmark(name).load({}, str(where))
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(f"{name}: ")
    assert str(where) in msg and expected in msg
    assert "--data-dir" in msg


def test_missing_message_lists_only_the_missing_files(tmp_path):
    write_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(BadInput, match=r"not found in .*: cifar-10-batches-py/data_batch_3 \(") as err:
        get_benchmark("split-cifar10").load({}, str(tmp_path))
    assert "data_batch_1" not in str(err.value)


def test_corrupt_files_raise_bad_input(tmp_path):
    write_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(b"not a pickle")
    with pytest.raises(BadInput, match="could not read") as err:
        get_benchmark("split-cifar10").load({}, str(tmp_path))
    assert "\n" not in str(err.value)


def test_download_refuses_unknown_names(tmp_path):
    with pytest.raises(BadInput, match="unknown dataset"):
        tvs.download("imagenet", str(tmp_path))
