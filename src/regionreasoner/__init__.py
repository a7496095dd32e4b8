"""RegionReasoner and RegionDial-Bench: region-grounded multi-round visual reasoning.

Importing this package is cheap: it pulls in no torch, transformers or sam2. Heavy
pieces load lazily behind their extras.
"""

from __future__ import annotations

__version__ = "0.1.0"
