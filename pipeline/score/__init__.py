"""Scoring rendered pairs: the ``Scorer`` protocol and column merge (base), the scorers (clip, nsfw:
NudeNet and open_nsfw, faces, q16), the one list of them with their config switches (registry), and
the bias attribute an image shows, read by the face classifier, else CLIP (attributes)."""
