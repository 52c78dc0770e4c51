"""AppTest of the Launch page with your own data (the path field, the preview, the one-line refusal) and plugins (the
'plugin' mark under the strategy's family, a broken plugin's warning)."""
from __future__ import annotations

import pytest
from apphelp import open_app
from own_data import image_folder

from bench import registry
from bench.results import queries as q
from bench.results.store import Store

pytestmark = pytest.mark.usefixtures("fresh_streamlit")


@pytest.fixture
def store(tmp_path, monkeypatch) -> Store:
    path = tmp_path / "own.duckdb"
    monkeypatch.setenv("BENCH_STORE", str(path))
    monkeypatch.setenv("BENCH_DATA_ROOTS", str(tmp_path))
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    registry.reset_plugins()
    yield Store(path)
    registry.reset_plugins()


def test_the_launch_form_previews_an_image_folder_and_queues_its_runs(store, tmp_path, no_pool):
    root = image_folder(tmp_path / "pets", classes=4, per_class=5, names=["cat", "dog", "eel", "fox"])
    at = open_app("pages/launch.py")
    at.selectbox(key="launch.benchmark").set_value("image-folder").run()
    assert any("path is empty" in i.value for i in at.info) and at.button(key="launch.start").disabled
    at.text_input(key="launch.bench.image-folder.path").set_value(str(root)).run()
    assert not at.exception and not at.error
    text = " ".join(m.value for m in at.markdown)
    assert "20 images in 4 classes, 12x12 grey: 2 experiences" in text and "cat, dog, eel, fox" in text
    table = at.dataframe[0].value
    assert list(table.columns) == ["experience", "classes", "train", "test"] and table.train.sum() == 16
    (grid,) = at.get("image")
    assert [i.caption for i in grid.proto.imgs] == ["cat", "dog", "eel", "fox"]  # one sample image per class
    at.button(key="launch.start").click().run()
    assert q.status_counts(store) == {"queued": 2}
    assert set(q.runs(store).benchmark) == {"image-folder"}


def test_bad_data_shows_one_line_and_nothing_can_start(store, tmp_path):
    root = image_folder(tmp_path / "bad", classes=3, per_class=4)
    (root / "class_b" / "001.png").write_bytes(b"garbage")
    at = open_app("pages/launch.py")
    at.selectbox(key="launch.benchmark").set_value("image-folder").run()
    at.text_input(key="launch.bench.image-folder.path").set_value(str(root)).run()
    errors = [e.value for e in at.error]
    assert errors == [f"image-folder: {root}/class_b/001.png is not a readable image: cannot identify image file "
                      f"'{root}/class_b/001.png'"]
    assert at.button(key="launch.start").disabled and q.status_counts(store) == {}


def test_plugin_strategies_are_marked_and_broken_plugins_are_named(store, tmp_path, monkeypatch):
    broken = tmp_path / "broken_plugin.py"
    broken.write_text("import not_installed_anywhere\n")
    monkeypatch.setenv("BENCH_PLUGINS", f"examples/my_strategy.py,{broken}")
    at = open_app("pages/launch.py")
    box = at.checkbox(key="launch.strategy.l2_anchor")
    assert box.label == "l2_anchor (plugin)" and "From the plugin" in box.help and not box.disabled
    assert any(f"Plugin {broken} (BENCH_PLUGINS) was not loaded: ModuleNotFoundError" in w.value
               for w in at.warning)
    assert any("Plugins: " in c.value and "my_strategy.py" in c.value for c in at.caption)
    (column,) = [c for c in at.columns if any(m.value == "**Regularization**" for m in c.markdown)]
    assert [b.key for b in column.checkbox][-1] == "launch.strategy.l2_anchor"  # under its family, after ewc..rwalk
