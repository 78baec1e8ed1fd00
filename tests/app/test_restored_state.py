"""What the next launch restores: the model drawn with (a trained model once saved is its file,
under one name) and whether the Inside panel was open."""

from __future__ import annotations

from digitpad.app.settings import make_settings


def test_a_saved_trained_model_is_its_file_and_comes_back(make_window, tmp_path):
    w = make_window()
    own = w.draw_tab.entries["lenet"].to_checkpoint()
    assert w._use_trained_model(own).wait()  # "lenet #1 · trained here", built in a worker
    assert w.draw_tab.current_entry().label.startswith("lenet #1")
    path = tmp_path / "mine.safetensors"
    job = w.save_model(str(path))  # saved in a worker; the entry becomes its file after
    assert job is not None and job.wait().ok
    labels = [w.draw_tab.model_box.itemText(i) for i in range(w.draw_tab.model_box.count())]
    assert not any(l.startswith("lenet #1") for l in labels)  # one model, one name
    assert w.draw_tab.current_entry().label.startswith("mine.safetensors")
    assert w.draw_tab.current_entry().key == str(path)
    w.draw_tab.inside.toggle.setChecked(True)
    w.close()  # saves the settings

    again = make_window(settings=make_settings())
    entry = again.draw_tab.current_entry()
    assert entry.key == str(path) and entry.label.startswith("mine.safetensors")
    assert again.draw_tab.inside.toggle.isChecked()


def test_the_training_tabs_save_renames_the_entry_it_feeds(make_window, tmp_path, monkeypatch):
    from digitpad.core.nets.checkpoint import Checkpoint

    w = make_window()
    t = w.training_tab
    ckpt = w.draw_tab.entries["lenet"].to_checkpoint()
    trained = Checkpoint(ckpt.arch, ckpt.state, dict(ckpt.meta or {}), None)
    monkeypatch.setattr(t, "trained_model", lambda: trained)
    assert w._use_trained_model(trained).wait()
    key = w.draw_tab.current_entry().key
    assert key.startswith("trained:")
    t.model_saved.emit(str(tmp_path / "lenet-99.03.safetensors"))
    assert key not in w.draw_tab.entries
    assert w.draw_tab.current_entry().label.startswith("lenet-99.03.safetensors · ")
