"""The ``digitpad info`` command."""

from __future__ import annotations

import argparse
from .common import EXIT_OK, _json_line, _pct, _printable, input_lines, load_model, resolve_model_path


def model_info(spec: str, input: str | None = None) -> dict:
    from ..core.nets.spec import feature_shapes, parameter_count

    path = resolve_model_path(spec)
    if path.suffix.lower() == ".onnx":
        from ..core.reading.onnx_predict import open_onnx

        p = open_onnx(path, input)
        return {"path": str(path), "arch": "onnx", "name": p.name, "test_acc": None,
                "epochs": None, "created": None, "digitpad_version": None, "dataset": None,
                "train_seconds": None, "parameters": p.parameters,
                "file_size": path.stat().st_size, "config": None, "notes": [],
                "foreign": "onnx", "input": p.meta.get("input"),
                "input_scores": p.meta.get("input_scores"), "layers": list(p.map_names.values()),
                "shapes": {k: list(v) for k, v in p.feature_shapes().items()},
                "layout": p.layout, "meta": p.meta}
    ckpt = load_model(spec, input)
    meta = ckpt.meta
    return {
        "path": str(path),
        "arch": ckpt.arch,
        "name": ckpt.name,
        "test_acc": ckpt.test_acc,
        "epochs": meta.get("epochs"),
        "created": meta.get("created"),
        "digitpad_version": meta.get("digitpad_version"),
        "dataset": meta.get("dataset"),
        "train_seconds": meta.get("train_seconds"),
        "parameters": parameter_count(ckpt.arch),
        "file_size": path.stat().st_size,
        "config": meta.get("config"),
        "notes": list(ckpt.notes),
        "foreign": meta.get("foreign"),
        "input": meta.get("input"),
        "input_scores": meta.get("input_scores"),
        "shapes": {k: list(v) for k, v in feature_shapes(ckpt.arch).items()},
        "meta": meta,
    }


def cmd_info(args: argparse.Namespace) -> int:
    info = model_info(args.model, getattr(args, "input", None))
    if args.json:
        print(_json_line(info))
        return EXIT_OK
    rows = [("file", info["path"]), ("name", info["name"]), ("architecture", info["arch"]),
            ("test accuracy", _pct(info["test_acc"])),
            ("epochs", info["epochs"]), ("created", info["created"]),
            ("digitpad version", info["digitpad_version"]),
            ("parameters", f"{info['parameters']:,}"),
            ("file size", f"{info['file_size']:,} bytes"),
            ("training time", None if info["train_seconds"] is None else f"{info['train_seconds']} s")]
    for key, value in rows:
        print(f"{key:<17} {'-' if value is None else _printable(value)}")
    if info["foreign"] == "onnx":
        print(f"{'format':<17} ONNX, run in onnxruntime (input layout {info['layout']})")
    elif info["foreign"]:
        print(f"{'format':<17} {info['foreign']} (not a digitpad file; matched by its tensors)")
    if info["foreign"]:
        shapes = ", ".join(f"{k} {'x'.join(map(str, v))}" for k, v in info["shapes"].items())
        print(f"{'maps':<17} {_printable(shapes) or '-'}")
        for line in input_lines(info["meta"]):
            key, _, rest = line.partition(" ")
            print(f"{key:<17} {_printable(rest.strip())}")
    if info["config"]:
        cfg = info["config"]
        print("config           " + _printable(", ".join(f"{k}={v}" for k, v in cfg.items())))
    for note in info["notes"]:
        print(f"note             {_printable(note)}")
    return EXIT_OK
