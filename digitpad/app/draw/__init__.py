"""The Draw tab: canvas, live prediction, preprocessing steps and feature maps."""
