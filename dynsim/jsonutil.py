"""The one JSON helper: numpy scalars and arrays, dataclasses, tuples -> plain JSON; inf/NaN -> null."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np


def to_jsonable(obj):
    """Recursively convert ``obj`` to plain JSON types (non-finite floats become None)."""
    if hasattr(obj, "to_dict") and not isinstance(obj, type):
        return to_jsonable(obj.to_dict())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def to_json(obj, indent: int | None = 1) -> str:
    """``json.dumps`` of :func:`to_jsonable` (strict: no NaN tokens ever reach the output)."""
    return json.dumps(to_jsonable(obj), indent=indent, allow_nan=False)
