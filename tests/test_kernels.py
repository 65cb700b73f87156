"""The math kernels' pins (nasdqn.kernels): set before torch and numpy load, taking effect, recorded."""

import json
import os
import subprocess
import sys

import pytest

from nasdqn import kernels

PROBE = r"""
import json, sys
import nasdqn
from nasdqn import kernels
import torch
torch.ones(8, 8) @ torch.ones(8, 8)
print(json.dumps(kernels.describe()))
"""


def probe(**variables: str) -> dict:
    env = kernels.environ_without_pins()
    out = subprocess.run([sys.executable, "-c", PROBE], env={**env, **variables}, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_pin_sets_every_variable_and_adds_numpys_to_those_already_disabled(monkeypatch):
    for name in kernels.pins():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MKL_CBWR", "AVX512")
    monkeypatch.setenv("NPY_DISABLE_CPU_FEATURES", "X86_V3")
    monkeypatch.delenv(kernels.OFF, raising=False)
    kernels.pin()
    for name, value in kernels.PINS.items():
        assert os.environ[name] == value, name
    disabled = os.environ["NPY_DISABLE_CPU_FEATURES"].split()
    assert disabled[0] == "X86_V3" and set(kernels.pins()["NPY_DISABLE_CPU_FEATURES"].split()) <= set(disabled)


def test_pins_off_leaves_the_environment_alone(monkeypatch):
    monkeypatch.setenv(kernels.OFF, "off")
    monkeypatch.setenv("MKL_CBWR", "AUTO")
    monkeypatch.delenv("ATEN_CPU_CAPABILITY", raising=False)
    assert kernels.pin() == []
    assert os.environ["MKL_CBWR"] == "AUTO" and "ATEN_CPU_CAPABILITY" not in os.environ


@pytest.mark.skipif(sys.platform != "linux" or "avx2" not in open("/proc/cpuinfo").read(),
                    reason="the pins' levels need an x86-64 processor with AVX2")
def test_importing_nasdqn_first_puts_torch_and_mkl_on_the_pinned_code_paths():
    pinned, unpinned = probe(), probe(**{kernels.OFF: "off"})
    assert pinned["pinned"] and not unpinned["pinned"]
    assert pinned["torch_cpu_capability"] == "AVX2" and pinned["mkl_branch"] == "COMPATIBLE"
    assert unpinned["mkl_branch"] == "OFF"  # no reproducibility mode: MKL's own choice
    # a variable set to emulate a smaller processor is overridden by the pin
    assert probe(ATEN_CPU_CAPABILITY="default")["torch_cpu_capability"] == "AVX2"
    assert probe(ATEN_CPU_CAPABILITY="default", **{kernels.OFF: "off"})["torch_cpu_capability"] == "DEFAULT"


def test_a_runs_meta_records_the_processor_pins_and_kernels(tmp_path):
    from nasdqn.records import provenance

    host = provenance()["host"]
    assert host["pinned"] is True
    assert host["variables"]["MKL_CBWR"] == "COMPATIBLE" and "cpu_flags" in host and "mkl_version" in host
    line = kernels.kernel_summary(host)
    assert "pinned" in line and (host["cpu_model"] or "not recorded") in line


def test_the_summary_of_a_run_made_before_the_pins_says_what_it_lacks():
    old = {"cpu_model": "AMD EPYC 9R14", "avx512": True, "torch_cpu_capability": "AVX512", "cpus": 2}
    assert kernels.kernel_summary(old) == "AMD EPYC 9R14, AVX-512, torch AVX512, pins not recorded, 2 cores"
    assert kernels.kernel_summary({}).startswith("CPU model not recorded")


def test_the_constraints_pin_exactly_the_bit_deciding_libraries_and_they_are_installed():
    from importlib import metadata
    from pathlib import Path

    from packaging.requirements import Requirement

    from nasdqn.records import BIT_LIBRARIES, provenance

    lines = (Path(__file__).parents[1] / "constraints.txt").read_text().splitlines()
    pins = [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]
    assert sorted(p.name.lower() for p in pins) == sorted(name.lower() for name in BIT_LIBRARIES)
    for pin in pins:
        spec = str(pin.specifier)
        assert spec.startswith("==") and "*" not in spec, f"{pin}: an exact version, not a range"
        installed = metadata.version(pin.name)
        assert pin.specifier.contains(installed, prereleases=True), (
            f"{pin.name} {installed} is installed, constraints.txt pins {spec}: reinstall with `make install`")
        assert provenance()["versions"][pin.name] == installed  # what a run's meta records
