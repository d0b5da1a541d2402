"""One range per number, for the command line and the Python API alike (core/bounds.py)."""

from __future__ import annotations

import argparse
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relattr_studio.core import bounds
from relattr_studio.core.bounds import Bound, check_bounds
from relattr_studio.core.errors import RelAttrError


def test_a_bound_says_what_it_accepts_and_names_the_value_it_refuses():
    assert bounds.STEPS.describe() == "1..100,000,000" and bounds.LR.describe() == "(0, 1]"
    assert bounds.LR.accepts(1.0) and not bounds.LR.accepts(0.0) and not bounds.LR.accepts(math.nan)
    assert not bounds.STEPS.accepts(2.5) and not bounds.STEPS.accepts(True) and not bounds.STEPS.accepts("3")
    assert bounds.SHARE_BELOW_ONE.largest < 1.0 and bounds.SHARE_BELOW_ONE.accepts(bounds.SHARE_BELOW_ONE.largest)
    with pytest.raises(RelAttrError, match=r"lr must be a finite number in \(0, 1\], not inf"):
        bounds.LR.check("lr", math.inf)
    check_bounds({"steps": None}, {"steps": bounds.STEPS})  # None: not set
    with pytest.raises(RelAttrError, match=r"^x: steps must be a whole number in 1\.\.100,000,000, not 0$"):
        check_bounds({"steps": 0}, {"steps": bounds.STEPS}, owner="x: ")


@given(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**12, 10**12)))
def test_the_command_line_and_the_api_agree_on_every_value(value):
    from relattr_studio.cli.options import option

    for bound in (bounds.LR, bounds.SHARE_BELOW_ONE, bounds.STEPS, bounds.BATCH, bounds.EPOCHS):
        parse = option(bound)
        try:
            parse(str(value))
            parsed = True
        except argparse.ArgumentTypeError:
            parsed = False
        api = bound.accepts(int(value) if bound.integer and isinstance(value, int) else
                            (float(value) if not bound.integer else value))
        assert parsed == api, (bound, value)


def _option_bounds(command: str) -> dict[str, Bound]:
    from relattr_studio.cli import build_parser

    parser = build_parser()
    for word in command.split():
        parser = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[word]
    return {a.dest: a.type.bound for a in parser._actions if hasattr(a.type, "bound")}


@pytest.mark.parametrize("command,config_bounds", [
    ("train", "relattr_studio.training.config:TRAIN_BOUNDS"),
    ("generator train", "relattr_studio.training.generator_config:GENERATOR_BOUNDS"),
    ("oracle train", "relattr_studio.training.oracle_job:ORACLE_BOUNDS"),
])
def test_an_option_that_sets_a_config_field_takes_the_fields_bound(command, config_bounds):
    import importlib

    module, name = config_bounds.split(":")
    fields = getattr(importlib.import_module(module), name)
    options = _option_bounds(command)
    shared = set(options) & set(fields)
    assert len(shared) >= 6, shared
    assert {k: options[k] for k in shared} == {k: fields[k] for k in shared}


def test_the_python_api_refuses_what_the_command_line_refuses(tmp_path):
    from relattr_studio.analysis.jitter_experiment import JitterExperimentConfig
    from relattr_studio.data.procedural import make_toy_faces
    from relattr_studio.training.config import TrainConfig
    from relattr_studio.training.generator_config import GeneratorTrainConfig
    from relattr_studio.training.oracle_job import OracleConfig

    cases = [
        (lambda: TrainConfig(dataset="d.h5", lr=math.nan), r"lr must be a finite number in \(0, 1\]"),
        (lambda: TrainConfig(dataset="d.h5", lr=1e6), r"lr must be"),
        (lambda: TrainConfig(dataset="d.h5", batch_size=10**6), r"batch_size must be a whole number in 2\.\.4,096"),
        (lambda: TrainConfig(dataset="d.h5", steps=0), r"steps must be"),
        (lambda: TrainConfig(dataset="d.h5", epochs=math.inf), r"epochs must be"),
        (lambda: GeneratorTrainConfig(dataset="d.h5", out="g.pt", z_dim=-1), r"z_dim must be a whole number in 0\.\."),
        (lambda: GeneratorTrainConfig(dataset="d.h5", out="g.pt", kl_weight=math.nan), r"kl_weight must be"),
        (lambda: OracleConfig(dataset="d.h5", legible_quantile=0.2), r"legible_quantile must be .* \[0\.5, 1\)"),
        (lambda: OracleConfig(dataset="d.h5", width=10**5), r"width must be"),
        (lambda: JitterExperimentConfig(dataset="", generator="", oracle="", out_dir="", budget=10**9), r"budget"),
        (lambda: JitterExperimentConfig(dataset="", generator="", oracle="", out_dir="", seeds=(-1,)), r"seed"),
        (lambda: make_toy_faces(tmp_path / "x.h5", n=10**12), r"toy-faces: n must be a whole number in 2\.\."),
        (lambda: make_toy_faces(tmp_path / "x.h5", size=10**5), r"toy-faces: size must be"),
    ]
    for make, message in cases:
        with pytest.raises(RelAttrError, match=message):
            make()
    assert not list(tmp_path.iterdir())
