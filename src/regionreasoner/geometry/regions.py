"""``Regions``: the typed container in which boxes and points travel between layers."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from regionreasoner.geometry.boxes import as_xyxy_array


@dataclass(frozen=True)
class Regions:
    """Aligned arrays describing N regions in ONE coordinate frame.

    Attributes:
        xyxy: ``(N, 4)`` float boxes.
        points: ``(N, 2)`` float points; ``NaN`` rows where an item had no point.
        labels: optional per-region labels.
    """

    xyxy: npt.NDArray[np.float64]
    points: npt.NDArray[np.float64] = field(default=None)  # type: ignore[assignment]
    labels: tuple[str | None, ...] = ()

    def __post_init__(self) -> None:
        xyxy = as_xyxy_array(self.xyxy)
        object.__setattr__(self, "xyxy", xyxy)
        if self.points is None:
            points = np.full((len(xyxy), 2), np.nan)
        else:
            points = np.asarray(self.points, dtype=np.float64).reshape(-1, 2)
        if len(points) != len(xyxy):
            raise ValueError(f"got {len(points)} points for {len(xyxy)} boxes")
        object.__setattr__(self, "points", points)
        labels = tuple(self.labels) if self.labels else (None,) * len(xyxy)
        if len(labels) != len(xyxy):
            raise ValueError(f"got {len(labels)} labels for {len(xyxy)} boxes")
        object.__setattr__(self, "labels", labels)

    @classmethod
    def empty(cls) -> Regions:
        """No regions."""
        return cls(np.zeros((0, 4)))

    def __len__(self) -> int:
        return len(self.xyxy)

    def is_empty(self) -> bool:
        """Whether there are no regions."""
        return len(self) == 0

    def __getitem__(self, index: int | slice | npt.NDArray[np.bool_]) -> Regions:
        idx = np.arange(len(self))[index]
        idx = np.atleast_1d(idx)
        return Regions(self.xyxy[idx], self.points[idx], tuple(self.labels[i] for i in idx))

    @property
    def has_point(self) -> npt.NDArray[np.bool_]:
        """``(N,)`` whether each region has a finite point."""
        return np.isfinite(self.points).all(axis=1)
