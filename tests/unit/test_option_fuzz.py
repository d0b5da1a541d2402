"""Properties of what a user types and of the model files they give:

- every numeric option of every command has a checked type (a new option cannot slip in
  unbounded), and for any text each such type returns a finite value inside its bounds or
  refuses it with an ArgumentTypeError, never another exception;
- any corruption of a model file's bytes, and any header entry removed or of the wrong type,
  is a DataFileError (or, for bytes that happen to survive, a file that reads), never another
  exception.
"""

from __future__ import annotations

import argparse
import copy
import math
import os

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relattr_studio.cli import build_parser
from relattr_studio.core.errors import DataFileError
from relattr_studio.modeling.model_file import model_file_payload, read_model_file, save_model_file

FUZZ = settings(max_examples=int(os.environ.get("RELATTR_FUZZ_EXAMPLES", 150)), deadline=None,
                derandomize=not os.environ.get("RELATTR_FUZZ_EXPLORE"),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def _numeric_actions():
    """(command, option, action) for every option of every command that takes a number."""
    def walk(parser, path):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from walk(sub, [*path, name])
            elif action.option_strings and action.type is not None and action.type is not str:
                yield " ".join(path), action.option_strings[-1], action

    return [a for a in walk(build_parser(), []) if getattr(a[2].type, "__name__", "") not in ("Path", "_parse_option")]


NUMERIC = _numeric_actions()


def test_every_numeric_option_has_a_range():
    unbounded = [f"{cmd} {opt}" for cmd, opt, action in NUMERIC
                 if action.type in (int, float) and not action.choices]
    assert not unbounded, f"options without a range: {unbounded}"
    assert len(NUMERIC) >= 60


numbers_as_text = st.one_of(
    st.integers(-10**30, 10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["nan", "inf", "-inf", "1e400", "-0", "0x10", "1_000", " 5 ", "", "1e-400", "٣"]),
    st.text(max_size=12),
)


@FUZZ
@given(index=st.integers(0, 10**6), text=numbers_as_text)
def test_a_checked_option_returns_a_value_in_range_or_refuses_the_text(index, text):
    cmd, opt, action = NUMERIC[index % len(NUMERIC)]
    if action.type in (int, float):  # a fixed set of choices: argparse checks membership
        return
    try:
        value = action.type(text)
    except argparse.ArgumentTypeError as err:
        assert str(err)
        return
    assert isinstance(value, (int, float)) and math.isfinite(value), (cmd, opt, text, value)
    assert action.type.bound.accepts(value), (cmd, opt, text, value)  # the same range the Python API checks


@pytest.fixture(scope="module")
def model_bytes(tmp_path_factory):
    path = tmp_path_factory.mktemp("mf") / "m.pt"
    save_model_file(path, model_file_payload(kind="ranker", builder="ranknet", config={"attributes": ["a"]},
                                             attributes=["a"], preprocessing={"size": 8},
                                             weights={"w": torch.arange(6.0).reshape(2, 3)},
                                             train_state={"step": 3}))
    return path.read_bytes()


@pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")  # torch, on the damaged bytes
@FUZZ
@given(data=st.data())
def test_corrupted_model_file_bytes_are_a_data_file_error(model_bytes, tmp_path_factory, data):
    raw = bytearray(model_bytes)
    for _ in range(data.draw(st.integers(1, 6))):
        raw[data.draw(st.integers(0, len(raw) - 1))] ^= data.draw(st.integers(1, 255))
    if data.draw(st.booleans()):
        raw = raw[: data.draw(st.integers(0, len(raw)))]
    path = tmp_path_factory.mktemp("bad") / "m.pt"
    path.write_bytes(bytes(raw))
    try:
        read_model_file(path, kind="ranker")
    except DataFileError as err:
        assert str(path) in str(err)


HEADER = ("kind", "builder", "config", "attributes", "preprocessing", "weights", "extra", "card", "checksum")


@FUZZ
@given(key=st.sampled_from(HEADER), value=st.one_of(st.none(), st.integers(), st.text(max_size=5),
                                                     st.lists(st.integers(), max_size=2)), drop=st.booleans())
def test_a_header_entry_missing_or_mistyped_is_a_data_file_error(model_bytes, tmp_path_factory, key, value, drop):
    path = tmp_path_factory.mktemp("hdr") / "m.pt"
    path.write_bytes(model_bytes)
    payload = copy.deepcopy(torch.load(path, weights_only=True))
    if drop:
        payload.pop(key)
    else:
        payload[key] = value
    torch.save(payload, path)
    try:
        read_model_file(path, kind="ranker")
    except DataFileError as err:
        assert str(path) in str(err)
