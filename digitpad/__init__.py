"""digitpad: draw a digit, watch a convolutional network see it, train it yourself."""

__version__ = "0.1.0"
