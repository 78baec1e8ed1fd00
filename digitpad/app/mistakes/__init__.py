"""The Mistakes tab: the loaded model's errors on MNIST's test set (see tab.py; state.py is Qt-free)."""
