"""A foreign model's input conventions, torch-free (the Draw tab's Input box is built before
torch loads): each is (a, b) with the model reading a * x + b of an ink-bright [0, 1] image x
(or of 1 - x, ink dark). :mod:`.foreign` scores them; :mod:`.input_memory` remembers the choice.
"""

from __future__ import annotations

from .spec import MNIST_MEAN, MNIST_STD

# name -> (a, b): the model reads a * x + b of an ink-bright [0, 1] image x
_BRIGHT = {
    "totensor": (1.0, 0.0),
    "normalised": (1.0 / MNIST_STD, -MNIST_MEAN / MNIST_STD),
    "0-255": (255.0, 0.0),
    "-1..1": (2.0, -1.0),
}
CONVENTIONS: dict[str, tuple[float, float]] = dict(_BRIGHT)
# ink dark: the model reads a * (1 - x) + b
CONVENTIONS.update({f"{k}-dark": (-a, a + b) for k, (a, b) in _BRIGHT.items()})
DESCRIBED = {
    "totensor": "ToTensor [0, 1]", "normalised": "MNIST-normalised (x - 0.1307) / 0.3081",
    "0-255": "0-255", "-1..1": "[-1, 1]",
}
CONVENTION_NAMES = tuple(CONVENTIONS)


def describe(name: str) -> str:
    base, dark = (name[:-5], True) if name.endswith("-dark") else (name, False)
    return f"{DESCRIBED.get(base, base)}, ink {'dark' if dark else 'bright'}"


def input_summary(meta: dict) -> str:
    """One line for the status bar: the convention, how it was chosen, the runner-up."""
    name = meta.get("input")
    if not name:
        return ""
    scores = meta.get("input_scores") or {}
    ranked = sorted(scores.items(), key=lambda kv: -kv[1])
    text = f"input {describe(name)}"
    if meta.get("input_chosen"):
        text += f" ({meta['input_chosen']}"
        text += f"; it scores {scores[name] * 100:.0f} %)" if name in scores else ")"
    elif ranked:
        text += f" ({scores.get(name, 0) * 100:.0f} % on {meta.get('input_scored_on', 'sample images')}"
        runner = next((kv for kv in ranked if kv[0] != name), None)
        text += f"; next {runner[0]} {runner[1] * 100:.0f} %)" if runner else ")"
    return text
