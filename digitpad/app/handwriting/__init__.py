"""The My handwriting tab: collect, keep and teach the model your own digits."""
