"""What each architecture is, without torch: its description and how its input is scaled.

Kept apart from ``models`` (which builds the torch modules) so the window, the model picker
and :mod:`digitpad.core.reading.numpy_predict` can name and run the shipped models before torch is
imported.
"""

from __future__ import annotations

# MNIST's pixel mean and standard deviation (ink bright, values in [0, 1]): every model
# normalises its input with these.
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081

DESCRIPTIONS: dict[str, str] = {
    "lenet": "The lesson's LeNet: two 5x5 conv layers, 44,426 parameters",
    "dense": "Dense baseline: 784-512-512-10, no convolutions, 669,706 parameters",
    "digitnet": "digitpad's CNN: five 3x3 conv layers with batch norm",
}
