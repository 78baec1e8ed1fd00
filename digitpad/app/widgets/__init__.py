"""Widgets and dialogs shared by several tabs."""
