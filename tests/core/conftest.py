"""Fixtures the core's download tests share."""

from __future__ import annotations

import urllib.request

import pytest

PROXY_VARS = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
              "no_proxy", "NO_PROXY")


@pytest.fixture
def clean_urllib(monkeypatch):
    """No proxy settings from the environment, and urllib's cached opener rebuilt."""
    for var in PROXY_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(urllib.request, "_opener", None)
    return monkeypatch
