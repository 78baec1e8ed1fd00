"""Stand-ins for the network that reach the download code where it really opens URLs.

The download opens every request through its own ``OpenerDirector`` (watched sockets that a
deadline can shut), not ``urllib.request.urlopen``; patching ``urlopen`` would miss it and let
a test reach the real network.
"""
from __future__ import annotations

import urllib.request


def patch_urlopen(monkeypatch, fake) -> None:
    """Every URL opened in this process goes to ``fake(request, *args, **kwargs)``."""
    def open_(self, fullurl, *args, **kwargs):
        return fake(fullurl, *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", fake)
    monkeypatch.setattr(urllib.request.OpenerDirector, "open", open_)
