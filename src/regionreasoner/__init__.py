"""RegionReasoner and RegionDial-Bench: region-grounded multi-round visual reasoning.

Importing this package is cheap: it pulls in no torch, transformers or sam2. Heavy
pieces load lazily behind their extras.

The library entry point of an evaluation (what ``regionreasoner eval`` runs) is exported
here and loads on first use::

    from regionreasoner import EvalSettings, evaluate

    result = evaluate(EvalSettings(data="bench.jsonl", model="oracle",
                                   segmenter="box-fill", out="runs/oracle"))
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY_EXPORTS = {
    "EngineSettings": "regionreasoner.dialogue.engine",
    "EvalResult": "regionreasoner.dialogue.engine",
    "EvalSettings": "regionreasoner.dialogue.engine",
    "evaluate": "regionreasoner.dialogue.engine",
}
"""Public names of higher layers, ``name -> module``, imported on first access (PEP 562)
so that ``import regionreasoner`` stays light; the one exception to the layer order
(``tests/test_layers.py``)."""


def __getattr__(name: str) -> object:
    module = _LAZY_EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY_EXPORTS})


__all__ = ["__version__", *_LAZY_EXPORTS]
