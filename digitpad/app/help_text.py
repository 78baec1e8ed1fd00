"""Help > How this works, and Help > About, as HTML.

Every number here is computed from the core at runtime (output sizes, parameter counts), so
the text cannot drift from the code.
"""

from __future__ import annotations

import platform
from collections import OrderedDict
from html import escape

from digitpad.core.models import count_parameters, create_model


def output_size(in_: int, k: int, pad: int = 0, stride: int = 1) -> int:
    try:
        from digitpad.core.lesson import output_size as core_output_size
    except ImportError:
        return (in_ - k + 2 * pad) // stride + 1
    return core_output_size(in_, k, pad, stride)


def parameters_by_layer(arch: str) -> "OrderedDict[str, int]":
    model = create_model(arch)
    out: OrderedDict[str, int] = OrderedDict()
    for name, p in model.named_parameters():
        layer = name.split(".")[0]
        out[layer] = out.get(layer, 0) + p.numel()
    return out


def _size_line(in_: int, k: int, pad: int = 0, stride: int = 1) -> str:
    out = output_size(in_, k, pad, stride)
    return (f"({in_} − {k} + 2·{pad}) / {stride} + 1 = <b>{out}</b>")


def how_this_works_html() -> str:
    lenet = parameters_by_layer("lenet")
    lenet_total = count_parameters(create_model("lenet"))
    dense = parameters_by_layer("dense")
    dense_total = count_parameters(create_model("dense"))
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

<h3>How big is a feature map?</h3>
<p>output = (input − kernel + 2·padding) / stride + 1, rounded down:</p>
<ul>
<li>28×28 image, 5×5 kernel, no padding, stride 1: {_size_line(28, 5)}</li>
<li>the same with padding 2: {_size_line(28, 5, 2)} (the size is kept)</li>
<li>a 3×3 kernel with padding 1: {_size_line(28, 3, 1)}</li>
<li>stride 2 with a 3×3 kernel: {_size_line(28, 3, 0, 2)}</li>
</ul>

<h3>Pooling</h3>
<p>Max-pooling with a 2×2 window and stride 2 keeps the largest value of each 2×2 block:
{_size_line(s1, 2, 0, 2)}. The map halves, keeping where a feature was found roughly but
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
A convolution instead re-uses one small kernel at every position (weight sharing), so LeNet
gets by with {lenet_total:,} and still handles digits drawn a little off-centre better.</p>
<p>The <b>digitnet</b> default uses 3×3 kernels, batch normalisation and global average
pooling; its last conv layer's maps are averaged into one number each before the final
layer.</p>
"""


def about_html(device: str = "cpu") -> str:
    import PySide6
    import pyqtgraph
    import torch

    from digitpad import __version__
    from digitpad.core.devices import list_devices
    from digitpad.core.paths import app_data_dir

    from .errors import log_file

    devices = ", ".join(escape(d.label) for d in list_devices())
    return f"""
<h2>digitpad {escape(__version__)}</h2>
<p>Draw a digit, watch a convolutional network see it, train it yourself.</p>
<table cellspacing="0" cellpadding="2">
<tr><td>Drawing runs on</td><td>{escape(device)}</td></tr>
<tr><td>Training devices</td><td>{devices}</td></tr>
<tr><td>PyTorch</td><td>{escape(torch.__version__)}</td></tr>
<tr><td>Qt / PySide6</td><td>{escape(PySide6.__version__)}</td></tr>
<tr><td>pyqtgraph</td><td>{escape(pyqtgraph.__version__)}</td></tr>
<tr><td>Python</td><td>{escape(platform.python_version())} on {escape(platform.system())}</td></tr>
<tr><td>Settings and models</td><td>{escape(str(app_data_dir()))}</td></tr>
<tr><td>Log file</td><td>{escape(str(log_file()))}</td></tr>
</table>
<p>MIT licence. Trained on MNIST (Yann LeCun, Corinna Cortes, Christopher Burges).</p>
"""
