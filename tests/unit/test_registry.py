"""Registries list declared names without importing their modules, and import on first use."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from relattr_studio.core.errors import RelAttrError
from relattr_studio.core.registry import Registry


def test_declared_names_list_first_and_register_on_first_get(tmp_path, monkeypatch):
    reg: Registry = Registry("widget")
    (tmp_path / "relattr_test_widgets.py").write_text(
        "from tests.unit.test_registry import REG\n"
        "@REG.register('late', 'made late')\n"
        "def late():\n    return 'built'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(globals(), "REG", reg)
    reg.declare("late", "relattr_test_widgets")

    @reg.register("eager")
    def eager():
        """An eager widget."""
        return "eager"

    assert reg.names() == ["late", "eager"]
    assert "relattr_test_widgets" not in sys.modules
    assert reg.build("late") == "built" and reg.get("late").summary == "made late"
    assert "relattr_test_widgets" in sys.modules
    with pytest.raises(RelAttrError, match="known: late, eager"):
        reg.get("missing")
    with pytest.raises(ValueError, match="declared twice"):
        reg.declare("late", "anything")


def test_a_declaration_its_module_does_not_keep_is_an_error():
    reg: Registry = Registry("widget")
    reg.declare("ghost", "json")  # importable, registers nothing
    with pytest.raises(RuntimeError, match="does not register the widget 'ghost'"):
        reg.get("ghost")


def test_catalog_declares_exactly_what_the_modules_register():
    """The torch-free catalog lists every built-in backbone and ranker, and nothing else."""
    script = textwrap.dedent("""
        import sys
        from relattr_studio.modeling.catalog import BACKBONES, RANKERS
        listed = (BACKBONES.names(), RANKERS.names())
        assert "torch" not in sys.modules, "listing names imported torch"
        import relattr_studio.modeling.backbones, relattr_studio.modeling.rankers
        assert listed == (BACKBONES.names(), RANKERS.names())
        assert all(BACKBONES.get(n) for n in listed[0]) and all(RANKERS.get(n) for n in listed[1])
        print(listed)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "efficientnet-lite0" in out.stdout and "dacrl" in out.stdout


def test_the_catalog_names_exactly_the_pairwise_rankers():
    from relattr_studio.modeling.catalog import NEURAL_RANKERS, PAIRWISE_RANKERS, RANKERS

    kinds = {name: RANKERS.build(name, attributes=["a"], backbone="small-cnn").kind for name in NEURAL_RANKERS}
    assert {name for name, kind in kinds.items() if kind == "pairwise"} == set(PAIRWISE_RANKERS)
    assert all(RANKERS.get(name).traits["pairwise"] == (name in PAIRWISE_RANKERS) for name in RANKERS.names())


def test_traits_are_declared_with_the_name_and_read_without_importing():
    reg: Registry = Registry("widget")
    reg.declare("late", "json", family="x", local=False)
    reg.declare("other", "json", family="y", local=False)
    assert reg.traits("late") == {"family": "x", "local": False}
    assert reg.names_where(family="y") == ["other"] and reg.names_where(local=False) == ["late", "other"]
    with pytest.raises(TypeError):
        reg.traits("late")["family"] = "z"  # read-only: one place says what a builder is

    @reg.register("late", local=False)  # agreeing with the declaration is fine
    def late():
        return 1

    assert reg.get("late").traits == {"family": "x", "local": False}
    with pytest.raises(ValueError, match="other than declared"):
        reg.register("other", family="z")(lambda: 2)
    with pytest.raises(RelAttrError, match="no widget named 'nope'; known: late, other"):
        reg.traits("nope")


def test_ranksvm_is_a_ranker_like_the_others():
    """RankSVM is listed, built and loaded through RANKERS: a builder's config, then its weights."""
    import numpy as np

    from relattr_studio.modeling.catalog import NEURAL, RANKERS, RANKSVM_FAMILY, RANKSVM_RANKERS, ranker_family
    from relattr_studio.modeling.ranksvm import RankSVMModel, Standardizer

    assert RANKSVM_RANKERS == ("ranksvm", "ranksvm-ll") and set(RANKSVM_RANKERS) <= set(RANKERS.names())
    assert [ranker_family(n) for n in RANKERS.names()] == [NEURAL] * 3 + [RANKSVM_FAMILY] * 2
    assert RANKERS.traits("ranksvm-ll")["local"] and not RANKERS.traits("ranksvm")["local"]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 5)).astype(np.float32).astype(np.float64)  # the file keeps local_x as float32
    local = {"k": 3, "c": {"a": 0.1, "b": 0.2}, "x": x, "pairs": {"a": (np.arange(3), np.arange(3, 6), np.ones(3)),
                                                                  "b": (np.arange(2), np.arange(2, 4), -np.ones(2))}}
    for loc in (None, local):
        fitted = RankSVMModel(["a", "b"], rng.normal(size=(2, 5)), Standardizer.fit(x), "gist+lab", [0.1, 0.2],
                              local=loc)
        twin = RANKERS.build(fitted.registry_name, attributes=["a", "b"], **fitted.config())
        assert twin.registry_name == fitted.registry_name and twin.config() == fitted.config()
        twin.load_state_dict(fitted.state_dict())
        np.testing.assert_array_equal(twin.scores(x), fitted.scores(x))
        if loc is not None:
            np.testing.assert_array_equal(twin.compare_local(x[:4], x[4:8], "b"), fitted.compare_local(x[:4], x[4:8], "b"))
        with pytest.raises(RuntimeError, match="weights of shape"):
            RANKERS.build(fitted.registry_name, attributes=["a"], feature_kind="gist+lab", c=[0.1],
                          local=None if loc is None else {"k": 3, "c": {"a": 0.1}}).load_state_dict(
                {k: v for k, v in fitted.state_dict().items() if not k.startswith("local_pairs.1")})
