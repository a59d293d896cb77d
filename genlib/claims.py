"""Claims a lecture makes about its own outputs, checked where they are made.

A sentence such as "the gap shrinks as T grows" is a claim about numbers a cell printed. Writing it as

>>> claim(gaps[-1] < gaps[0], "the gap shrinks as T grows")
claim holds: the gap shrinks as T grows

prints the claim beside the output and raises ``ClaimFailed`` when a change (a new recipe, new weights, a
library update) makes it false, so the notebook test fails instead of the text silently drifting.
"""
from __future__ import annotations


class ClaimFailed(AssertionError):
    """A lecture's claim about its outputs no longer holds: fix the text or find what changed."""


def claim(condition, text: str) -> None:
    """Print ``claim holds: <text>`` when ``condition`` is true; raise ``ClaimFailed`` when it is false.

    Parameters
    ----------
    condition : bool-like
        The check, computed from the outputs the text describes (a Python bool, a NumPy or a one-element
        torch boolean).
    text : str
        The claim in words, as the lecture states it.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"text must state the claim in words, got {text!r}.")
    try:
        holds = bool(condition)
    except (TypeError, ValueError, RuntimeError) as error:
        raise TypeError(f"condition must be a single truth value (a bool, or a one-element array), got "
                        f"{type(condition).__name__}: {error}. Reduce it first, e.g. with .all() or .any().") from None
    if not holds:
        raise ClaimFailed(f"the lecture claims '{text}', and its outputs no longer show it: "
                          "update the text to what the outputs show, or find what changed.")
    print(f"claim holds: {text}")
