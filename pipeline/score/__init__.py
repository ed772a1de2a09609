"""Scoring rendered pairs: the ``Scorer`` protocol and column merge (base), CLIP (clip), NudeNet (nudenet)."""
