import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nasdqn.config import ConfigError
from nasdqn.search_space import Arch, SearchSpace, preserves_function


@given(st.lists(st.integers(1, 4096), min_size=1, max_size=8), st.sampled_from(["relu", "tanh"]))
def test_arch_parse_and_print_round_trip(widths, act):
    arch = Arch(tuple(widths), act)
    assert Arch.parse(str(arch)) == arch


@pytest.mark.parametrize("bad", ["", "relu", "relu-", "relu-64x", "gelu-64", "relu-0", "relu-64x99999", "64x64"])
def test_arch_parse_refuses_bad_strings(bad):
    with pytest.raises(ConfigError):
        Arch.parse(bad)


def test_space_size_membership_and_enumeration():
    uniform = SearchSpace()
    assert uniform.size == len(uniform.all()) == 3 * 4 * 2
    assert uniform.contains(Arch.parse("tanh-128x128x128")) and not uniform.contains(Arch.parse("relu-64x128"))
    space = SearchSpace(uniform=False)
    assert space.size == (4 + 16 + 64) * 2
    everything = space.all()
    assert len(everything) == len(set(everything)) == space.size
    assert all(space.contains(a) for a in everything)
    assert not space.contains(Arch.parse("relu-48"))
    assert not space.contains(Arch.parse("relu-32x32x32x32"))


@pytest.mark.parametrize("uniform", [True, False])
def test_sampling_is_uniform_over_architectures_and_reproducible(uniform):
    space = SearchSpace(depths=(1, 2), widths=(8, 16, 32), activations=("relu",), uniform=uniform)
    draws = [space.sample(np.random.default_rng(0)) for _ in range(3)]
    assert len(set(draws)) == 1  # same generator state, same draw
    rng = np.random.default_rng(1)
    counts = {}
    for _ in range(6000):
        a = space.sample(rng)
        counts[a] = counts.get(a, 0) + 1
    assert len(counts) == space.size and all(space.contains(a) for a in counts)
    expected = 6000 / space.size
    assert all(0.85 * expected < c < 1.15 * expected for c in counts.values())


@pytest.mark.parametrize("kwargs", [dict(depths=()), dict(widths=()), dict(activations=()), dict(widths=(0,)),
                                    dict(widths=(10**9,)), dict(activations=("gelu",)), dict(depths=(1, 1))])
def test_space_refuses_empty_or_absurd_choices(kwargs):
    with pytest.raises(ConfigError):
        SearchSpace(**kwargs)


def test_neighbours_are_one_edit_away_and_inside_the_space():
    n = SearchSpace().neighbours(Arch.parse("relu-64x64"))
    assert set(map(str, n)) == {"relu-32x32", "relu-128x128", "relu-64x64x64", "relu-64", "tanh-64x64"}
    space = SearchSpace(uniform=False)
    n = space.neighbours(Arch.parse("relu-64x64"))
    assert set(map(str, n)) == {"relu-32x64", "relu-128x64", "relu-64x32", "relu-64x128", "relu-64x64x64",
                                "relu-64", "tanh-64x64"}


def test_preserves_function_means_growth_only():
    p = lambda a, b: preserves_function(Arch.parse(a), Arch.parse(b))  # noqa: E731
    assert p("relu-32", "relu-64")
    assert p("relu-32", "relu-64x64")
    assert p("relu-64x32", "relu-64x32x32")
    assert not p("relu-64", "relu-32")
    assert not p("relu-64x64", "relu-64")
    assert not p("relu-64", "tanh-64")
    assert not p("relu-128", "relu-128x64")  # an added layer narrower than the last one
