"""The Lab tab: the lesson's convolution arithmetic, live (see tab.py; state.py is Qt-free)."""
