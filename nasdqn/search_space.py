"""Architectures (`Arch`) and the space of them a search may choose from (`SearchSpace`)."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import numpy as np

from nasdqn.errors import MAX_DEPTH, MAX_WIDTH, ConfigError

# Every activation a network can use. The default search space keeps to the first two; the third
# group serves the paper's reported 27-configuration space, whose third activation is not named.
ACTIVATIONS = ("relu", "tanh", "leaky_relu", "elu", "sigmoid")
DEFAULT_ACTIVATIONS = ("relu", "tanh")
# Deepening adds a layer that copies the last one: exact for ReLU (relu(relu(x)) = relu(x)), close
# for tanh (see networks._deepen); for the others a repeated activation changes the function.
_DEEPEN_PRESERVES = ("relu", "tanh")
# How a new architecture takes over from the old network (networks.morph).
INHERIT_MODES = ("morph", "copy", "none")
_ARCH = re.compile(r"^(?P<act>[a-z][a-z_]*)-(?P<widths>\d+(x\d+)*)$")


@dataclass(frozen=True, order=True)
class Arch:
    """Hidden-layer widths and one activation for all hidden layers; written like `relu-64x64`."""

    widths: tuple[int, ...]
    activation: str = "relu"

    def __post_init__(self) -> None:
        if self.activation not in ACTIVATIONS:
            raise ConfigError(f"activation {self.activation!r}; allowed: {', '.join(ACTIVATIONS)}")
        if not 1 <= len(self.widths) <= MAX_DEPTH:
            raise ConfigError(f"architecture depth {len(self.widths)}: allowed 1..{MAX_DEPTH} hidden layers")
        for w in self.widths:
            if not 1 <= w <= MAX_WIDTH:
                raise ConfigError(f"layer width {w}: allowed 1..{MAX_WIDTH}")

    @classmethod
    def parse(cls, text: str) -> Arch:
        m = _ARCH.match(text.strip()) if isinstance(text, str) else None
        if not m:
            raise ConfigError(
                f"architecture {text!r} is not of the form <activation>-<width>x<width>... "
                f"(e.g. relu-64x64; activations: {', '.join(ACTIVATIONS)})"
            )
        return cls(tuple(int(w) for w in m["widths"].split("x")), m["act"])

    def __str__(self) -> str:
        return f"{self.activation}-{'x'.join(map(str, self.widths))}"

    @property
    def depth(self) -> int:
        return len(self.widths)

    def n_params(self, n_in: int, n_out: int) -> int:
        sizes = (n_in, *self.widths, n_out)
        return sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:], strict=False))


def preserves_function(old: Arch, new: Arch) -> bool:
    """True when `networks.morph` can turn `old` into `new` without changing its outputs.

    That is growth only: same activation, no layer narrowed, layers added only at the end and no
    narrower than the last existing one (each new layer starts as an identity copy of it). For tanh,
    added layers are only approximately the identity (see networks.py); for the other activations
    only widening preserves the function.
    """
    if old.activation != new.activation or new.depth < old.depth:
        return False
    if new.depth > old.depth and old.activation not in _DEEPEN_PRESERVES:
        return False
    if any(b < a for a, b in zip(old.widths, new.widths, strict=False)):
        return False
    return all(w >= old.widths[-1] for w in new.widths[old.depth:])


@dataclass(frozen=True)
class SearchSpace:
    """Depths x widths x activations. With `uniform` (the default) every hidden layer has the same
    width (relu-64x64, not relu-64x128): 24 architectures by default instead of 168, so that the
    hindsight sweep over the whole space is affordable and each edit (widen, deepen, ...) acts on
    the whole network."""

    depths: tuple[int, ...] = (1, 2, 3)
    widths: tuple[int, ...] = (32, 64, 128, 256)
    activations: tuple[str, ...] = DEFAULT_ACTIVATIONS
    uniform: bool = True

    def __post_init__(self) -> None:
        for name in ("depths", "widths", "activations"):
            values = getattr(self, name)
            if not values:
                raise ConfigError(f"search space: {name} is empty; give at least one value")
            if len(set(values)) != len(values):
                raise ConfigError(f"search space: {name} {list(values)} has repeated values")
        object.__setattr__(self, "depths", tuple(sorted(self.depths)))
        object.__setattr__(self, "widths", tuple(sorted(self.widths)))
        for d in self.depths:
            if not 1 <= d <= MAX_DEPTH:
                raise ConfigError(f"search space depth {d}: allowed 1..{MAX_DEPTH}")
        for w in self.widths:
            if not 1 <= w <= MAX_WIDTH:
                raise ConfigError(f"search space width {w}: allowed 1..{MAX_WIDTH}")
        for a in self.activations:
            if a not in ACTIVATIONS:
                raise ConfigError(f"search space activation {a!r}; allowed: {', '.join(ACTIVATIONS)}")

    def describe(self) -> str:
        layers = "equal widths" if self.uniform else "free widths"
        return (
            f"depths {list(self.depths)}, widths {list(self.widths)} ({layers}), "
            f"activations {list(self.activations)}: {self.size} architectures"
        )

    def _width_tuples(self, depth: int) -> int:
        return len(self.widths) if self.uniform else len(self.widths) ** depth

    @property
    def size(self) -> int:
        return sum(self._width_tuples(d) for d in self.depths) * len(self.activations)

    def contains(self, arch: Arch) -> bool:
        return (
            arch.depth in self.depths
            and arch.activation in self.activations
            and all(w in self.widths for w in arch.widths)
            and (not self.uniform or len(set(arch.widths)) == 1)
        )

    def all(self) -> list[Arch]:
        """Every architecture, in a fixed order (used to index a policy over the whole space)."""
        return [
            Arch(ws, act)
            for act in self.activations
            for d in self.depths
            for ws in (((w,) * d for w in self.widths) if self.uniform else itertools.product(self.widths, repeat=d))
        ]

    def sample(self, rng: np.random.Generator) -> Arch:
        """Uniform over architectures (not over depths): depth d is drawn with weight proportional
        to its number of width choices."""
        weights = np.array([self._width_tuples(d) for d in self.depths], dtype=float)
        d = self.depths[rng.choice(len(self.depths), p=weights / weights.sum())]
        if self.uniform:
            widths = (self.widths[rng.integers(len(self.widths))],) * d
        else:
            widths = tuple(self.widths[i] for i in rng.integers(len(self.widths), size=d))
        return Arch(widths, self.activations[rng.integers(len(self.activations))])

    def neighbours(self, arch: Arch) -> list[Arch]:
        """Architectures one edit away: one layer (all layers, if `uniform`) one width step wider or
        narrower, a layer added at the end (as wide as the last) or the last one removed, or the other
        activation."""
        out: set[Arch] = set()
        ws = list(arch.widths)
        for i, w in enumerate(ws):
            if w in self.widths:
                k = self.widths.index(w)
                for j in (k - 1, k + 1):
                    if 0 <= j < len(self.widths):
                        if self.uniform:
                            out.add(Arch((self.widths[j],) * arch.depth, arch.activation))
                        else:
                            out.add(Arch(tuple(ws[:i] + [self.widths[j]] + ws[i + 1 :]), arch.activation))
        if arch.depth + 1 in self.depths:
            out.add(Arch(tuple(ws + [ws[-1]]), arch.activation))
        if arch.depth - 1 in self.depths:
            out.add(Arch(tuple(ws[:-1]), arch.activation))
        for a in self.activations:
            if a != arch.activation:
                out.add(Arch(arch.widths, a))
        return sorted(a for a in out if self.contains(a))


def parse_schedule(entries: tuple[str, ...]) -> dict[int, Arch]:
    """`("40:relu-64", "90:relu-64x64")` as {episode: architecture}; episodes increasing from 1."""
    out: dict[int, Arch] = {}
    for entry in entries:
        episode, sep, arch = str(entry).partition(":")
        if not sep or not episode.strip().isdigit() or int(episode) < 1:
            raise ConfigError(f"schedule entry {entry!r}: expected EPISODE:ARCH with EPISODE >= 1, e.g. 40:relu-64")
        if out and int(episode) <= max(out):
            raise ConfigError(f"schedule entry {entry!r}: episodes must increase")
        out[int(episode)] = Arch.parse(arch)
    return out
