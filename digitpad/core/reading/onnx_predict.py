"""A user's own ONNX model (from any framework's export), run with onnxruntime.

Checked before onnxruntime sees it, each problem one line (CheckpointError): at most
MAX_MODEL_BYTES, a regular file; no external data (weights must be inside the file, so no
reference can point outside its folder, at /dev/zero or a FIFO); only the standard operator
domains (no custom ops, no code); at most MAX_NODES nodes; no initialiser over
MAX_INIT_ELEMENTS values. The input is one 28x28 channel, NCHW or NHWC, with or without a
batch axis; the output 10 classes, logits or probabilities. Every Conv and pool node's output
is added to the graph's outputs and shown as that node's feature maps.

Sessions run on one intra-op thread: a single 28x28 image costs well under a millisecond,
so they run on the app's worker threads like a torch Predictor (never on the GUI thread).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path

import numpy as np

from ..io.files import MAX_MODEL_BYTES, read_regular_file
from ..nets.errors import CheckpointError
from ..nets.foreign import CONVENTIONS
from ..nets.input_memory import content_key
from .prediction import Prediction, empty_prediction, make_prediction
from ..data.preprocess import ImageInput, Preprocessed, preprocess

MAX_NODES = 20_000
MAX_INIT_ELEMENTS = 64 * 1024 * 1024
_DOMAINS = ("", "ai.onnx")
_MAPPED = ("Conv", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool")


def _graph(blob: bytes, path: Path):
    import onnx

    try:
        model = onnx.load_model_from_string(blob)
    except Exception as exc:  # a truncated or hostile protobuf
        raise CheckpointError(f"{path.name} is not a readable ONNX model (damaged or "
                              "truncated).", path, "corrupt") from exc
    g = model.graph
    if len(g.node) == 0:
        raise CheckpointError(f"{path.name} is not an ONNX model (its graph is empty).", path, "invalid")
    if len(g.node) > MAX_NODES:
        raise CheckpointError(f"{path.name} has {len(g.node):,} nodes; a digit model needs far "
                              f"fewer (at most {MAX_NODES:,} are opened).", path, "invalid")
    domains = {o.domain for o in model.opset_import} | {n.domain for n in g.node}
    odd = sorted(d for d in domains if d not in _DOMAINS)
    if odd:
        raise CheckpointError(f"{path.name} uses custom operators ({', '.join(odd)}); only "
                              "standard ONNX operators are run.", path, "invalid")
    for init in g.initializer:
        if init.data_location == onnx.TensorProto.EXTERNAL or init.external_data:
            raise CheckpointError(f"{path.name} keeps its weights in external files; digitpad "
                                  "opens only ONNX models with the weights inside (save with "
                                  "save_as_external_data=False).", path, "invalid")
        n = int(np.prod(list(init.dims), dtype=np.float64)) if init.dims else 1
        if n > MAX_INIT_ELEMENTS:
            raise CheckpointError(f"{path.name}: initialiser {init.name} declares {n:,} values, "
                                  "more than any digit model needs.", path, "shapes")
    for sub in (n for n in g.node for a in n.attribute if a.g.node or a.graphs):
        raise CheckpointError(f"{path.name} holds control flow ({sub.op_type}); digitpad opens "
                              "feed-forward networks only.", path, "invalid")
    return model


def _layout(model, path: Path) -> tuple[str, list]:
    inputs = [i for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
    if len(inputs) != 1:
        raise CheckpointError(f"{path.name} takes {len(inputs)} inputs; a digit model takes one "
                              "28x28 image.", path, "architecture")
    dims = [d.dim_value if d.HasField("dim_value") else None
            for d in inputs[0].type.tensor_type.shape.dim]
    known = [d for d in dims if d is not None]
    shapes = {4: {(1, 28, 28): "nchw", (28, 28, 1): "nhwc"}, 3: {(28, 28): "nhw"}}
    for rank, table in shapes.items():
        if len(dims) == rank and tuple(dims[1:]) in table and (dims[0] in (None, 1) or rank == 3):
            return table[tuple(dims[1:])], dims
    if tuple(dims) in ((1, 28, 28), (28, 28, 1)):
        return {(1, 28, 28): "chw", (28, 28, 1): "hwc"}[tuple(dims)], dims
    if len(dims) == 2 and dims[1] == 784:
        return "flat", dims
    raise CheckpointError(f"{path.name} takes input of shape {dims}; digitpad feeds one 28x28 "
                          "channel (N,1,28,28), (N,28,28,1), with or without the batch axis.",
                          path, "architecture")


def _batch_of_one(arr: np.ndarray, is_map: bool) -> np.ndarray:
    if not is_map:
        return arr.reshape(1, -1)
    if arr.ndim >= 3 and int(np.prod(arr.shape[:-3])) == 1:
        return arr.reshape((1,) + arr.shape[-3:])
    return arr.reshape((1,) + arr.shape)  # not a (C, H, W) map: predict leaves it out


class OnnxPredictor:
    """An ONNX model behind the Predictor's interface (predict, predict_batch, probs_batch,
    kernels); ``meta["input"]`` is the convention its input is fed in."""

    arch = "onnx"

    def __init__(self, path: str | os.PathLike, meta: dict | None = None) -> None:
        import onnx
        import onnxruntime as ort

        path = Path(path)
        blob = read_regular_file(path, MAX_MODEL_BYTES,
                                 lambda msg: CheckpointError(msg, path, "unreadable"), "model file")
        model = _graph(blob, path)
        self.path = path
        self.layout, dims = _layout(model, path)
        self.batched = self.layout in ("nchw", "nhwc", "nhw", "flat") and dims[0] is None
        g = model.graph
        self.final = g.output[0].name
        names, self.map_names = {o.name for o in g.output}, OrderedDict()
        for i, node in enumerate(g.node):
            if node.op_type in _MAPPED and node.output[0] not in names:
                self.map_names[node.output[0]] = node.name or f"{node.op_type.lower()}{i}"
                g.output.append(onnx.ValueInfoProto(name=node.output[0]))
        inits = {t.name: t for t in g.initializer}
        self._kernels = OrderedDict()
        for i, node in enumerate(g.node):
            if node.op_type == "Conv" and len(node.input) > 1 and node.input[1] in inits:
                try:
                    w = onnx.numpy_helper.to_array(inits[node.input[1]]).astype(np.float32)
                except (ValueError, TypeError) as exc:  # data not of its declared type or shape
                    raise CheckpointError(f"{path.name}: initialiser {node.input[1]} holds data "
                                          "that does not match its type and shape.", path,
                                          "corrupt") from exc
                if w.ndim == 4:
                    self._kernels[node.name or f"conv{i}"] = w
        self.parameters = int(sum(np.prod(list(t.dims)) for t in g.initializer))
        self.ops = [n.op_type for n in g.node]
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(model.SerializeToString(), options,
                                                 providers=["CPUExecutionProvider"])
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise CheckpointError(f"{path.name} cannot be run: {first[:160]}", path, "invalid") from exc
        self._input = self._session.get_inputs()[0].name
        self.meta: dict = {"foreign": "onnx", "name": path.stem, "content_sha256": content_key(blob),
                           **(meta or {})}
        probs = self._run(np.zeros((2, 28, 28), np.float32), "totensor")[0]
        if probs.shape[1:] != (10,):
            raise CheckpointError(f"{path.name} outputs shape {list(probs.shape[1:])}; a digit "
                                  "model outputs 10 classes.", path, "architecture")

    # --- running ------------------------------------------------------------------------------

    def _feed(self, x: np.ndarray) -> np.ndarray:
        return {"nchw": x[:, None], "nhwc": x[..., None], "nhw": x, "flat": x.reshape(len(x), 784),
                "chw": x[:, None], "hwc": x[..., None]}[self.layout]

    def _run(self, images: np.ndarray, convention: str | None = None, maps: bool = False):
        a, b = CONVENTIONS[convention or self.meta.get("input") or "totensor"]
        x = (np.asarray(images, np.float32) * a + b).astype(np.float32)
        wanted = [self.final] + (list(self.map_names) if maps else [])
        if self.batched:
            outs = self._session.run(wanted, {self._input: self._feed(x)})
        else:  # a fixed batch of one (or no batch axis): one image at a time
            one = {"nchw": (1, 1, 28, 28), "nhwc": (1, 28, 28, 1), "nhw": (1, 28, 28),
                   "flat": (1, 784), "chw": (1, 28, 28), "hwc": (28, 28, 1)}[self.layout]
            # each output given a batch axis of one: the classes flat, a map as (1, C, H, W)
            # (a graph without a batch axis may add one inside, or not)
            runs = [[_batch_of_one(np.asarray(r), k > 0) for k, r in
                     enumerate(self._session.run(wanted, {self._input: x[i].reshape(one)}))]
                    for i in range(len(x))]
            outs = [np.concatenate([r[k] for r in runs]) for k in range(len(wanted))]
        out = np.asarray(outs[0], np.float32).reshape(len(x), -1)
        if not np.isfinite(out).all():
            raise CheckpointError(f"{self.path.name} gives NaN or infinite outputs.", self.path, "corrupt")
        looks_like_probs = (out >= 0).all() and np.allclose(out.sum(1), 1.0, atol=1e-3)
        if not looks_like_probs:
            e = np.exp(out - out.max(1, keepdims=True))
            out = e / e.sum(1, keepdims=True)
        return out.astype(np.float32), outs[1:]

    def probs_batch(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """(N, 10) probabilities of (N, 28, 28) preprocessed images in [0, 1], ink bright."""
        images = np.asarray(images, np.float32)
        if images.shape[0] == 0:
            return np.zeros((0, 10), np.float32)
        return np.concatenate([self._run(images[s:s + batch_size])[0]
                               for s in range(0, len(images), max(1, int(batch_size)))])

    def predict(self, image: ImageInput | Preprocessed, with_maps: bool = True) -> Prediction:
        pre = image if isinstance(image, Preprocessed) else preprocess(image)
        if pre.empty or pre.image is None:
            return empty_prediction(pre)
        probs, outs = self._run(pre.image[None], maps=with_maps)
        maps = OrderedDict()
        for (_, name), arr in zip(self.map_names.items(), outs):
            arr = np.asarray(arr, np.float32)
            if arr.ndim == 4:
                maps[name] = np.ascontiguousarray(arr[0])
        return make_prediction(pre, probs[0], maps)

    def predict_batch(self, images, batch_size: int = 256) -> list[Prediction]:
        pres = [im if isinstance(im, Preprocessed) else preprocess(im, keep_steps=False) for im in images]
        todo = [i for i, p in enumerate(pres) if not (p.empty or p.image is None)]
        out = [empty_prediction(p, steps=False) for p in pres]
        if todo:
            probs = self.probs_batch(np.stack([pres[i].image for i in todo]), batch_size)
            for row, i in enumerate(todo):
                out[i] = make_prediction(pres[i], probs[row], OrderedDict(), steps=False)
        return out

    def feature_shapes(self) -> "OrderedDict[str, tuple[int, ...]]":
        """Names and (C, H, W) shapes of the maps :meth:`predict` gives (spec.feature_shapes'
        counterpart), from one forward pass."""
        if getattr(self, "_shapes", None) is None:
            _, outs = self._run(np.zeros((1, 28, 28), np.float32), maps=True)
            self._shapes = OrderedDict(
                (name, tuple(int(d) for d in np.asarray(a).shape[1:]))
                for name, a in zip(self.map_names.values(), outs) if np.asarray(a).ndim == 4)
        return OrderedDict(self._shapes)

    def state_dict(self) -> dict:
        return {}  # no torch weights: the app's tabs that train or rebuild say why not

    def kernels(self) -> dict[str, np.ndarray]:
        return {k: v.copy() for k, v in self._kernels.items()}

    @property
    def name(self) -> str:
        return self.meta.get("name") or self.path.stem

    test_acc = None

    def score_input(self, data_dir=None) -> dict:
        """Choose the input convention that reads a few hundred digits best (meta "input")."""
        from ..nets.foreign import sample_images

        x, y, source = sample_images(300, data_dir)
        x, y = x[:, 0].numpy(), y.numpy()
        scores = {name: float((self._run(x, name)[0].argmax(1) == y).mean()) for name in CONVENTIONS}
        entry = {"input": max(scores, key=lambda k: scores[k]), "input_scores": scores,
                 "input_scored_on": source}
        self.meta.update(entry)
        return entry

    def as_module(self):
        """A torch module whose ``logits`` are this model's log-probabilities: what scoring
        (eval, Mistakes) runs."""
        import torch
        from torch import nn

        outer = self

        class _Onnx(nn.Module):
            def logits(self, x):
                probs = outer.probs_batch(x.reshape(-1, 28, 28).cpu().numpy())
                return torch.from_numpy(np.log(np.clip(probs, 1e-12, None)))

            forward = logits

        return _Onnx()


def open_onnx(path: str | os.PathLike, input: str | None = None, data_dir=None) -> OnnxPredictor:
    """The one way an ONNX file is opened: checked, run, its input convention scored (or
    ``input`` when the user chose one)."""
    from ..nets.foreign import mnist_there
    from ..nets.input_memory import chosen_input

    p = OnnxPredictor(path)
    if input:
        from ..nets.foreign import set_input

        p.meta = set_input(p.meta, input)
    else:
        p.meta.update(chosen_input(p.meta["content_sha256"], CONVENTIONS.__contains__,
                                   lambda: p.score_input(data_dir), mnist_there(data_dir)))
    return p
