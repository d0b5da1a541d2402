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
    from relattr_studio.modeling.catalog import PAIRWISE_RANKERS, RANKERS

    kinds = {name: RANKERS.build(name, attributes=["a"], backbone="small-cnn").kind for name in RANKERS.names()}
    assert {name for name, kind in kinds.items() if kind == "pairwise"} == set(PAIRWISE_RANKERS)
