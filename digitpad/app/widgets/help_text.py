"""Help > How this works, and Help > About, as HTML.

Every number here is computed from the core at runtime (output sizes, parameter counts), so
the text cannot drift from the code.
"""

from __future__ import annotations

import platform
from collections import OrderedDict
from html import escape
from pathlib import Path

# The core's lab and models import torch: imported inside the functions, so that importing
# this module (the main window does at launch) does not.


def output_size(in_: int, k: int, pad: int = 0, stride: int = 1) -> int:
    from digitpad.core.insight.lab import output_size as core_output_size

    return core_output_size(in_, k, pad, stride)


def parameters_by_layer(arch: str) -> "OrderedDict[str, int]":
    from digitpad.core.nets.spec import parameter_rows

    return OrderedDict((layer, count) for layer, _, count in parameter_rows(arch))


def _size_line(in_: int, k: int, pad: int = 0, stride: int = 1) -> str:
    out = output_size(in_, k, pad, stride)
    return (f"({in_} − {k} + 2·{pad}) / {stride} + 1 = <b>{out}</b>")


def _kernel(name: str) -> list[list[float]]:
    from digitpad.core.insight.lab import KERNELS

    return KERNELS[name].tolist()


def _matrix(rows) -> str:
    def fmt(v):
        return f"{v:g}" if isinstance(v, float) else str(v)

    body = "".join("<tr>" + "".join(f"<td align='right'>&nbsp;{fmt(v)}&nbsp;</td>" for v in r) + "</tr>"
                   for r in rows)
    return f"<table border='1' cellspacing='0' cellpadding='1'>{body}</table>"


def _row(*parts: str) -> str:
    """Matrices and words side by side (Qt's rich text cannot put a table inside a line)."""
    cells = "".join(f"<td valign='middle'>&nbsp;{p}&nbsp;</td>" for p in parts)
    return f"<table cellspacing='0' cellpadding='2'><tr>{cells}</tr></table>"


def _worked_example_html(doc: dict) -> str:
    corr = doc["cross_correlation"]
    products, value = corr["steps"][0].rsplit(" = ", 1)
    return (_row(_matrix(doc["image"]), "cross-correlated with", _matrix(doc["kernel"]), "=",
                 _matrix(corr["output"]))
            + f"<p>At the top-left position {products} = <b>{value}</b>; "
            "then the kernel slides one step at a time. (Computed just now with the same "
            "<code>conv2d</code> the models use.)</p>")


def _sizes(doc: dict, preset: str) -> list[tuple[int, int]]:
    """(width, height) of the input and each layer's output in one of the lesson's cases."""
    return [(r["width"], r["height"]) for r in doc["output_sizes"][preset]]


def how_this_works_html() -> str:
    # `digitpad lesson` prints the same document: both read the lab's one computation
    from digitpad.core.insight.lab import CONV3_POOL2, LESSON_RESULTS, PHOTO_7X7, lesson_report
    from digitpad.core.nets.spec import parameter_count

    doc = lesson_report()
    photo = _sizes(doc, PHOTO_7X7)[-1]
    conv_pool = [w for w, _h in _sizes(doc, CONV3_POOL2)[1:]]

    lenet = parameters_by_layer("lenet")
    lenet_total = parameter_count("lenet")
    dense = parameters_by_layer("dense")
    dense_total = parameter_count("dense")
    s1 = output_size(28, 5)
    p1 = output_size(s1, 2, 0, 2)
    s2 = output_size(p1, 5)
    p2 = output_size(s2, 2, 0, 2)
    flat = 16 * p2 * p2
    rows = "".join(f"<tr><td>{escape(k)}</td><td align='right'>{v:,}</td></tr>" for k, v in lenet.items())
    return f"""
<h2>How this works</h2>
<p>You draw on a large canvas. The drawing is cropped to the ink, scaled so its longer side is
20 pixels and placed in a 28×28 square with its centre of mass in the middle, the way the
MNIST training digits were made. That small image is all the network sees (shown under
<i>What the network sees</i>).</p>

<h3>Convolution: sliding a kernel</h3>
<p>A convolution layer holds small grids of weights called <b>kernels</b> (LeNet's are 5×5).
A kernel slides over the image one step at a time; at each position the overlapping pixels
are multiplied by the kernel's weights and the products are summed into one number. All those
numbers form a <b>feature map</b>. (Strictly this is cross-correlation, a convolution without
flipping the kernel; deep-learning libraries call it convolution anyway.) A kernel that
matches a vertical edge gives high values where the drawing has vertical edges. With several
input channels, each input gets its own kernel and the results are summed. The network
<i>learns</i> its kernels; hover over a map in the Draw tab to see the kernel that made it.</p>

<h3>A worked example</h3>
{_worked_example_html(doc)}
<h3>How big is a feature map?</h3>
<p>output = (input − kernel + 2·padding) / stride + 1, rounded down:</p>
<ul>
<li>28×28 image, 5×5 kernel, no padding, stride 1: {_size_line(28, 5)}</li>
<li>the same with padding 2: {_size_line(28, 5, 2)} (the size is kept)</li>
<li>a 3×3 kernel with padding 1: {_size_line(28, 3, 1)}</li>
<li>stride 2 with a 3×3 kernel: {_size_line(28, 3, 0, 2)}</li>
<li>a 7×7 kernel on a 640×480 photo: {photo[0]}×{photo[1]}</li>
</ul>
<h3>Kernels people made by hand</h3>
<p>Before networks learned their kernels, people designed them: a <b>box blur</b> averages a
3×3 neighbourhood (all weights 1/9), <b>sharpen</b> boosts a pixel against its neighbours, and
the <b>Sobel</b> edge kernel responds where brightness changes from left to right. A trained
conv1 often ends up with kernels that look like these.</p>
{_row("box blur", _matrix([["1/9"] * 3] * 3), "sharpen", _matrix(_kernel("sharpen")),
      "Sobel x", _matrix(_kernel("sobel x")))}

<h3>Pooling</h3>
<p>Max-pooling keeps the largest value in each window. On the 3×3 image above, a 2×2 window
with stride 1 gives:</p>
{_row(_matrix(doc["image"]), "2×2 max-pool, stride 1 →", _matrix(doc["max_pool"]["output"]))}
<p>With a 2×2 window and stride 2 each 2×2 block
becomes one value: {_size_line(s1, 2, 0, 2)}; a 3×3 conv then a 2×2 pool on 28×28 gives
{conv_pool[0]}×{conv_pool[0]} → {conv_pool[1]}×{conv_pool[1]}. The map halves, keeping where a feature was found roughly but
not exactly, which makes the network tolerant of small shifts. It has no weights.</p>

<h3>LeNet, layer by layer</h3>
<ol>
<li>conv1: 6 kernels of 5×5 on the 28×28 image → 6 maps of {s1}×{s1}, then ReLU
(negative values become 0)</li>
<li>pool1: 2×2 max-pool → 6 × {p1}×{p1}</li>
<li>conv2: 16 kernels of 6×5×5 → 16 × {s2}×{s2}, ReLU</li>
<li>pool2: → 16 × {p2}×{p2} = {flat} numbers</li>
<li>fc1: {flat} → 120, fc2: 120 → 84, fc3: 84 → 10 scores, one per digit; softmax turns them
into the probabilities shown as bars.</li>
</ol>
<table cellspacing="0" cellpadding="2"><tr><th align='left'>layer</th><th align='right'>parameters</th></tr>
{rows}<tr><td><b>total</b></td><td align='right'><b>{lenet_total:,}</b></td></tr></table>

<h3>Why the dense network needs ~{dense_total // 1000}k parameters</h3>
<p>The dense baseline connects every one of the 784 pixels to each of 512 units: its first
layer alone has 784 × 512 + 512 = {dense.get('fc1', 0):,} parameters, and {dense_total:,} in all.
It has no notion of which pixels are neighbours, and a digit shifted by a few pixels looks
entirely new to it. A convolution instead re-uses one small kernel at every position (weight
sharing), so LeNet gets by with {lenet_total:,} and still handles digits drawn a little
off-centre better. (In the lesson the dense net reached {LESSON_RESULTS["dense_10_epochs"]:.1%} after
10 epochs.)</p>
<h3>Why the lesson's training was slow</h3>
<p>The lesson trained LeNet with plain SGD, learning rate 0.001, batches of 64: {LESSON_RESULTS["lenet_sgd_5_epochs"]:.1%}
after 5 epochs and {LESSON_RESULTS["lenet_sgd_100_epochs"]:.1%} after 100. Such a small step size barely moves
the weights at first. The Training tab's <i>lesson</i> recipe reproduces it; the <i>fast</i>
recipe (AdamW, a one-cycle learning-rate schedule, bigger batches, the data kept as one
tensor) passes 99 % within a few epochs.</p>
<p>The <b>digitnet</b> default uses 3×3 kernels, batch normalisation and global average
pooling; its last conv layer's maps are averaged into one number each before the final
layer.</p>
"""


HELP_LINK = "digitpad:how-this-works"  # the About box's link to the lesson's page


def about_html(device: str = "cpu", mnist: Path | str | None = None) -> str:
    import PySide6
    import pyqtgraph
    import torch
    from PySide6.QtCore import qVersion

    from digitpad import __version__
    from digitpad.core.nets.devices import list_devices
    from digitpad.core.io.paths import app_data_dir, resolve_data_dir

    from ..errors import log_file

    devices = ", ".join(escape(d.label) for d in list_devices())
    rows = [("Version", f"digitpad {__version__}"),
            ("Drawing runs on", device),
            ("Training devices", None),
            ("PyTorch", torch.__version__),
            ("Qt", qVersion()),
            ("PySide6", PySide6.__version__),
            ("pyqtgraph", pyqtgraph.__version__),
            ("Python", f"{platform.python_version()} on {platform.system()} {platform.machine()}"),
            ("MNIST data folder", str(mnist or resolve_data_dir())),
            ("Settings and models", str(app_data_dir())),
            ("Log file", str(log_file())),
            ("Licence", "MIT")]
    table = "".join(f"<tr><td><b>{escape(k)}</b></td><td>{devices if v is None else escape(str(v))}</td></tr>"
                    for k, v in rows)
    return f"""
<h2>digitpad {escape(__version__)}</h2>
<p>Draw a digit, watch a convolutional network see it, train it yourself.</p>
<table cellspacing="0" cellpadding="3">{table}</table>
<p>It grew out of a lesson on convolutions: <a href="{HELP_LINK}">How this works</a> walks
through it (convolution and pooling by hand, LeNet, the dense baseline, why the lesson's
training was slow).</p>
<p>MIT licence. Trained on MNIST (Yann LeCun, Corinna Cortes, Christopher Burges).</p>
"""
