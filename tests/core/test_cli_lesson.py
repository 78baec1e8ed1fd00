"""`digitpad lesson` and `digitpad eval --report`, in-process."""

import json

import numpy as np
from PIL import Image

from digitpad import cli
from digitpad.core.reading import scoring


def test_lesson_json_is_computed(capsys):
    assert cli.main(["lesson", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    image = np.array(doc["image"])
    kernel = np.array(doc["kernel"])
    assert image.tolist() == np.arange(9).reshape(3, 3).tolist() and kernel.tolist() == [[0, 1], [2, 3]]
    corr = [[int((image[i:i + 2, j:j + 2] * kernel).sum()) for j in range(2)] for i in range(2)]
    conv = [[int((image[i:i + 2, j:j + 2] * kernel[::-1, ::-1]).sum()) for j in range(2)] for i in range(2)]
    pool = [[int(image[i:i + 2, j:j + 2].max()) for j in range(2)] for i in range(2)]
    assert doc["cross_correlation"]["output"] == corr
    assert doc["convolution"]["output"] == conv and doc["convolution"]["output"] != corr
    assert doc["max_pool"]["output"] == pool
    assert doc["cross_correlation"]["steps"][0] == f"0·0 + 1·1 + 3·2 + 4·3 = {corr[0][0]}"
    sizes = doc["output_sizes"]
    assert (sizes["7x7 kernel on a 640x480 photo"][-1]["width"],
            sizes["7x7 kernel on a 640x480 photo"][-1]["height"]) == (634, 474)
    assert [r["height"] for r in sizes["3x3 conv then 2x2 pool on 28x28"]] == [28, 26, 13]
    assert [r["height"] for r in sizes["LeNet"]] == [28, 24, 12, 8, 4]
    layers = doc["lenet_parameters"]["layers"]
    assert [r["layer"] for r in layers] == ["conv1", "conv2", "fc1", "fc2", "fc3"]
    assert layers[0]["count"] == 1 * 5 * 5 * 6 + 6
    assert doc["lenet_parameters"]["total"] == sum(r["count"] for r in layers) == 44_426


def test_lesson_text(capsys):
    assert cli.main(["lesson"]) == 0
    out = capsys.readouterr().out
    assert "0·0 + 1·1 + 3·2 + 4·3 = 19" in out and "44,426" in out
    assert "480x640" not in out and "640x480 -> 634x474" in out
    assert "cross-correlation" in out.lower() and "max(0, 1, 3, 4) = 4" in out


def test_eval_report_writes_pngs_and_json(tiny_mnist, tmp_path, capsys, monkeypatch):
    out = tmp_path / "rep"
    scored = []
    real = scoring.score_batches

    def counting(model, images, *args, **kwargs):
        scored.append(len(images))
        return real(model, images, *args, **kwargs)

    monkeypatch.setattr(scoring, "score_batches", counting)
    assert cli.main(["eval", "lenet", "--data", str(tiny_mnist), "--report", str(out)]) == 0
    assert scored == [100]  # the table and the report come from one pass over the test set
    text = capsys.readouterr().out
    assert "accuracy" in text and str(out / "worst.png") in text
    doc = json.loads((out / "report.json").read_text())
    conf = np.array(doc["confusion"])
    assert doc["n"] == conf.sum() == 100 and doc["arch"] == "lenet"
    assert doc["errors"] == 100 - np.trace(conf) == len(doc["worst"])
    assert abs(doc["accuracy"] - np.trace(conf) / 100) < 1e-9
    assert all(w["true"] != w["predicted"] for w in doc["worst"])
    assert [w["confidence"] for w in doc["worst"]] == sorted((w["confidence"] for w in doc["worst"]), reverse=True)
    for name in ("confusion.png", "worst.png"):
        with Image.open(out / name) as im:
            assert im.format == "PNG" and min(im.size) > 200
            assert len(np.unique(np.asarray(im.convert("L")))) > 10  # drawn, not blank
    # the report is drawn from eval's own scores (the test set is scored once); --json still
    # prints one object, with the report's figures
    assert cli.main(["eval", "lenet", "--data", str(tiny_mnist), "--report", str(out), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["n"] == 100 and printed["confusion"] == doc["confusion"]
    assert printed["accuracy"] == doc["accuracy"]


def test_eval_report_into_a_file_fails_in_one_line(tiny_mnist, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert cli.main(["eval", "lenet", "--data", str(tiny_mnist), "--report", str(blocker)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("digitpad: error:")
