"""Named genome layouts: flat real vectors for evolution, named integer fields for network codecs.

A codec declares its genes once (name, shape, bounds, initial value); evolution sees the flat
`bounds` and `initial` arrays, the codec reads fields back by name. Genes are real numbers in
their natural units; `ints(name)` rounds them, which is where a genome becomes an integer network.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Gene:
    name: str
    shape: tuple[int, ...]
    low: float
    high: float
    start: int

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


class GenomeLayout:
    """An ordered set of named, bounded gene blocks."""

    def __init__(self) -> None:
        self.genes: dict[str, Gene] = {}
        self._init: list[np.ndarray] = []
        self.size = 0

    def add(self, name: str, shape: int | tuple[int, ...], low: float, high: float, init) -> None:
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        if name in self.genes:
            raise ValueError(f"gene {name!r} declared twice")
        if not low < high:
            raise ValueError(f"gene {name!r}: low {low} must be < high {high}")
        gene = Gene(name, shape, float(low), float(high), self.size)
        value = np.broadcast_to(np.asarray(init, dtype=np.float64), shape).ravel()
        if np.any(value < low) or np.any(value > high):
            raise ValueError(f"gene {name!r}: initial value outside [{low}, {high}]")
        self.genes[name] = gene
        self._init.append(value.copy())
        self.size += gene.size

    @property
    def bounds(self) -> np.ndarray:
        rows = [np.tile([g.low, g.high], (g.size, 1)) for g in self.genes.values()]
        return np.concatenate(rows) if rows else np.zeros((0, 2))

    @property
    def initial(self) -> np.ndarray:
        return np.concatenate(self._init) if self._init else np.zeros(0)

    def names(self) -> list[str]:
        """One label per gene (`name[i,j]`), for logs and CSV headers."""
        out = []
        for g in self.genes.values():
            if g.size == 1 and g.shape in ((), (1,)):
                out.append(g.name)
            else:
                out += [f"{g.name}[{','.join(map(str, idx))}]" for idx in np.ndindex(*g.shape)]
        return out

    def check(self, genome: np.ndarray) -> np.ndarray:
        genome = np.asarray(genome, dtype=np.float64)
        if genome.shape != (self.size,):
            raise ValueError(f"genome must have shape ({self.size},), got {genome.shape}")
        return genome

    def get(self, genome: np.ndarray, name: str) -> np.ndarray:
        """The block `name`, clipped to its bounds (an optimiser may step outside)."""
        g = self.genes[name]
        block = genome[g.start : g.start + g.size].reshape(g.shape)
        return np.clip(block, g.low, g.high)

    def ints(self, genome: np.ndarray, name: str) -> np.ndarray:
        return np.rint(self.get(genome, name)).astype(np.int64)

    def put(self, genome: np.ndarray, name: str, value) -> None:
        g = self.genes[name]
        genome[g.start : g.start + g.size] = np.broadcast_to(np.asarray(value, dtype=np.float64), g.shape).ravel()


class LayoutCodec:
    """What a codec built on a `GenomeLayout` shows evolution: bounds, the initial genome, gene names."""

    layout: GenomeLayout

    @property
    def bounds(self) -> np.ndarray:
        return self.layout.bounds

    @property
    def initial_genome(self) -> np.ndarray:
        return self.layout.initial

    def gene_names(self) -> list[str]:
        return self.layout.names()
