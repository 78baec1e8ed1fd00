"""The Lab tab's state, without Qt: what the sliding window shows, the size calculator's rows,
the kernel editor's kernel. The tab only renders it; tests drive it directly."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from digitpad.core.insight import lab
from digitpad.core.insight.names import NO_MAPS

MODES = ("cross-correlation", "convolution", "max-pool")


def parse_grid(text: str) -> np.ndarray:
    """"0 1 2; 3 4 5" (rows split by ';' or new lines, numbers by spaces or commas) -> array."""
    rows = [r for r in (part.replace(",", " ").split() for part in text.replace("\n", ";").split(";")) if r]
    if not rows:
        raise ValueError("type numbers, rows separated by ';'")
    if len({len(r) for r in rows}) != 1:
        raise ValueError("every row needs the same number of values")
    try:
        return np.array([[float(v) for v in r] for r in rows], dtype=np.float32)
    except ValueError:
        raise ValueError("only numbers, please") from None


def format_grid(a: np.ndarray) -> str:
    return "; ".join(" ".join(_num(v) for v in row) for row in np.asarray(a))


def _num(v: float) -> str:
    v = float(v)
    return str(int(v)) if v.is_integer() else f"{v:g}"


class SlideState:
    """One sliding (conv, true conv or pool) and how far the learner has stepped through it."""

    def __init__(self) -> None:
        self.image = lab.WORKED_IMAGE.copy()
        self.kernel = lab.WORKED_KERNEL.copy()
        self.mode = MODES[0]
        self.padding = 0
        self.stride = 1
        self.pool_size = 2
        self.error: str | None = None
        self.result: lab.LabResult | None = None
        self.other: lab.LabResult | None = None  # the other of conv / true conv, for comparing
        self.cursor = -1  # index of the step shown; -1: none yet
        self.recompute()

    def worked_example(self, which: str) -> None:
        """The lesson's examples: "conv" (image 0..8, kernel [[0,1],[2,3]]) or "pool" (2x2, stride 1)."""
        self.image = lab.WORKED_IMAGE.copy()
        self.kernel = lab.WORKED_KERNEL.copy()
        self.padding, self.stride, self.pool_size = 0, 1, 2
        self.mode = "max-pool" if which == "pool" else "cross-correlation"
        self.recompute()

    def set(self, **changes) -> None:
        for k, v in changes.items():
            if not hasattr(self, k):
                raise AttributeError(k)
            setattr(self, k, v)
        self.recompute()

    def recompute(self) -> None:
        self.cursor = -1
        try:
            if self.mode == "max-pool":
                self.result = lab.pool_steps(self.image, self.pool_size, self.stride, self.padding)
                self.other = None
            else:
                flip = self.mode == "convolution"
                self.result = lab.correlate_steps(self.image, self.kernel, self.padding, self.stride, flip)
                self.other = lab.correlate_steps(self.image, self.kernel, self.padding, self.stride, not flip)
            self.error = None
        except ValueError as exc:
            self.result = self.other = None
            self.error = str(exc)

    # --- stepping ---------------------------------------------------------------------------

    @property
    def n_steps(self) -> int:
        return len(self.result.steps) if self.result else 0

    @property
    def at_end(self) -> bool:
        return self.cursor >= self.n_steps - 1

    def step(self) -> bool:
        """Show the next window; False at the end."""
        if self.at_end:
            return False
        self.cursor += 1
        return True

    def back(self) -> None:
        self.cursor = max(-1, self.cursor - 1)

    def rewind(self) -> None:
        self.cursor = -1

    def finish(self) -> None:
        self.cursor = self.n_steps - 1

    @property
    def current(self) -> lab.Step | None:
        return self.result.steps[self.cursor] if self.result and self.cursor >= 0 else None

    def filled_output(self) -> np.ndarray:
        """The output so far: cells not reached yet are NaN."""
        if self.result is None:
            return np.zeros((0, 0))
        out = np.full(self.result.output.shape, np.nan, dtype=np.float32)
        for s in self.result.steps[:self.cursor + 1]:
            out[s.row, s.col] = s.value
        return out

    def caption(self) -> str:
        if self.error:
            return self.error
        s = self.current
        if s is None:
            n = self.n_steps
            return f"{n} window position{'s' if n != 1 else ''}. Press Step or Play."
        return f"output[{s.row}, {s.col}] = {s.formula}"


# --- output sizes ---------------------------------------------------------------------------

@dataclass
class SizeRow:
    label: str
    height: int | None
    width: int | None
    error: str | None = None


def size_rows(height: int, width: int, layers: list[lab.SizeLayer]) -> list[SizeRow]:
    """Each layer's output; from the first window that does not fit on, the reason instead."""
    rows = [SizeRow("input", height, width)]
    h, w = height, width
    for layer in layers:
        try:
            (_, h, w) = lab.chain_sizes(h, w, [layer])[-1]
            rows.append(SizeRow(layer.label(), h, w))
        except ValueError as exc:
            rows.append(SizeRow(layer.label(), None, None, str(exc).split(": ", 1)[-1]))
            break
    return rows


def size_parameters(height: int, width: int, layers: list[lab.SizeLayer]) -> tuple[str, str]:
    """(one line, its tooltip): the parameters of the layers in the size table.

    A conv layer has in·k·k·out weights + out biases (a layer without a channel count has
    one filter); pooling has none. When the table is LeNet's, its dense layers are added, so
    the figure matches the model's 44,426.
    """
    rows, cin = [], 1
    for i, layer in enumerate(layers, 1):
        if layer.kind != "conv":
            continue
        cout = layer.channels or 1
        count = cin * layer.k * layer.k * cout + cout
        rows.append((f"{layer.label()} (#{i})", f"{cin}·{layer.k}·{layer.k}·{cout} weights + "
                     f"{cout} biases", count))
        cin = cout
    h, w, lenet = lab.SIZE_PRESETS["LeNet"]
    if (height, width, list(layers)) == (h, w, list(lenet)):
        rows = lab.lenet_parameters()  # the same convs, and the dense layers after them
    elif any(layer.channels for layer in layers):  # a preset's convs, changed: its dense
        # layers depend on the last map's size, so they are named, not guessed
        line, tip = _parameter_line(rows)
        return line + " (convs only: the dense layers after them are not in this table)", tip
    if not rows:
        return "These layers have no parameters (pooling only takes a maximum).", ""
    return _parameter_line(rows)


def _parameter_line(rows) -> tuple[str, str]:
    line = ("Parameters of the layers shown: " + ", ".join(f"{n.split(' (#')[0]} {c:,}"
                                                           for n, _, c in rows)
            + f"; total {sum(c for *_, c in rows):,}")
    return line, "\n".join(f"{n}: {a} = {c:,}" for n, a, c in rows)


# --- kernel editor --------------------------------------------------------------------------

class KernelState:
    """The kernel applied live to the drawing: a preset, hand-edited values, or a model's."""

    def __init__(self) -> None:
        self.size = 3
        self.kernel = lab.kernel_presets(3)["sobel x"]
        self.source = "sobel x"
        self.model_kernels: np.ndarray | None = None  # conv1 weights (out, 1, k, k)
        self.model_note = "no model loaded"

    def set_model(self, arch: str, kernels: dict[str, np.ndarray]) -> None:
        conv1 = kernels.get("conv1")
        if conv1 is None:
            self.model_kernels = None
            self.model_note = NO_MAPS if arch == "dense" else f"{arch} has no conv1"
        else:
            self.model_kernels = np.asarray(conv1, dtype=np.float32)
            self.model_note = f"{arch} conv1: {len(conv1)} kernels of {conv1.shape[-2]}x{conv1.shape[-1]}"

    @property
    def model_count(self) -> int:
        return 0 if self.model_kernels is None else len(self.model_kernels)

    def use_preset(self, name: str) -> None:
        self.kernel = lab.kernel_presets(self.size)[name].copy()
        self.source = name

    def use_model_kernel(self, k: int) -> None:
        if self.model_kernels is None:
            raise ValueError(self.model_note)
        self.kernel = self.model_kernels[k, 0].copy()
        self.size = self.kernel.shape[0]
        self.source = f"model conv1 #{k}"

    def set_size(self, size: int) -> None:
        if size == self.size:
            return
        self.size = size
        self.use_preset(self.source if self.source in lab.kernel_presets(3) else "box blur")

    def set_value(self, row: int, col: int, value: float) -> None:
        if not math.isfinite(value):
            raise ValueError("a kernel value must be a number")
        self.kernel = self.kernel.copy()
        self.kernel[row, col] = value
        self.source = "edited"

    def apply(self, image: np.ndarray | None) -> np.ndarray | None:
        if image is None:
            return None
        return lab.filter_image(image, self.kernel)
