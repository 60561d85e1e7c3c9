"""JSON encoding of pipeline values: events, numpy arrays and tuples round-trip.

Operator state, task inputs and results are stored as JSON text in SQLite (readable with the
sqlite3 shell, unlike pickle, and safe to load), so the few non-JSON types need a tag.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from .events import Event, make_event

_TAG = "__walle__"


def _default(obj: Any) -> Any:
    if isinstance(obj, Event):
        return {_TAG: "event", "v": obj.to_dict()}
    if type(obj).__module__ == "numpy":
        if hasattr(obj, "shape") and obj.shape != ():
            import numpy as np  # only when an array is actually stored

            arr = np.ascontiguousarray(obj)
            return {_TAG: "ndarray", "dtype": arr.dtype.str, "shape": list(arr.shape),
                    "data": base64.b64encode(arr.tobytes()).decode("ascii")}
        return obj.item()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj, key=repr)
    raise TypeError(f"value of type {type(obj).__name__} cannot be stored as JSON")


def _hook(d: dict[str, Any]) -> Any:
    tag = d.get(_TAG)
    if tag is None:
        return d
    if tag == "event":
        v = d["v"]
        return make_event(v["ts"], v["id"], v["page"], v["items"], v["args"])
    if tag == "ndarray":
        import numpy as np

        raw = base64.b64decode(d["data"])
        return np.frombuffer(raw, dtype=np.dtype(d["dtype"])).reshape(d["shape"]).copy()
    return d


_encoder = json.JSONEncoder(default=_default, separators=(",", ":"))


def dumps(obj: Any) -> str:
    """Encode a value as compact JSON text."""
    return _encoder.encode(obj)


def loads(text: str) -> Any:
    """Decode what :func:`dumps` wrote."""
    return json.loads(text, object_hook=_hook)


def hashable(obj: Any) -> Any:
    """Lists (what JSON gives back for tuples) become tuples, so a decoded key is hashable."""
    if isinstance(obj, list):
        return tuple(hashable(x) for x in obj)
    return obj
