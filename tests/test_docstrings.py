"""Docstrings and the documentation site.

- Every public class, function and method of `eqx_lagrangians` has a docstring.
- Every public name is documented on the site: the API reference and the Lagrangians
  page are generated from the package's names (docs/hooks.py), and every public
  Lagrangian has a plot (an entry in SHOWCASES of examples/lagrangians.py).
- The README sections the pages include exist, and the pages' Python examples run.

These checks read the sources; `make docs` builds the site itself (`mkdocs build
--strict`), which also fails on a broken link or a Lagrangian without a plot.
"""

import importlib.util
import inspect
import pathlib
import re

import pytest

import eqx_lagrangians as el


ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def _load_hooks():
    spec = importlib.util.spec_from_file_location("docs_hooks", DOCS / "hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hooks = _load_hooks()
PUBLIC = hooks.public_names()


def _is_package_class(cls) -> bool:
    return cls.__module__.split(".")[0] == "eqx_lagrangians"


def _generated_by_python(function) -> bool:
    """An `__init__` written by dataclasses (for a module with fields only)."""
    code = getattr(function, "__code__", None)
    return code is not None and code.co_filename.startswith("<")


def _public_members(cls):
    """(name, object) for every public method and property of `cls` that the
    package defines, its own or inherited from a package class, and its
    `__init__` and `__call__`."""
    seen = set()
    for klass in cls.__mro__:
        if not _is_package_class(klass):
            continue
        for name, member in vars(klass).items():
            if name in seen:
                continue
            if name.startswith("_") and name not in ("__init__", "__call__"):
                continue
            if isinstance(member, staticmethod | classmethod):
                member = member.__func__
            if not (inspect.isfunction(member) or isinstance(member, property)):
                continue
            if name == "__init__" and _generated_by_python(member):
                continue
            seen.add(name)
            yield name, klass, member


def _docstring(cls, name) -> str | None:
    """The docstring of `cls.name`: its own, or the one it overrides in a package
    class (as `inspect.getdoc` does, but never the one of `object` or
    `eqx.Module`)."""
    for klass in cls.__mro__:
        if _is_package_class(klass) and name in vars(klass):
            member = vars(klass)[name]
            if isinstance(member, staticmethod | classmethod):
                member = member.__func__
            doc = getattr(member, "__doc__", None)
            if doc and doc.strip():
                return doc
    return None


def test_public_names_exist():
    assert "AbstractLagrangian" in PUBLIC and "descend" in PUBLIC
    assert all(not name.startswith("_") for name in PUBLIC)


@pytest.mark.parametrize("name", PUBLIC)
def test_public_name_has_docstring(name):
    obj = getattr(el, name)
    doc = obj.__doc__
    assert doc and doc.strip(), f"el.{name} has no docstring."
    if not inspect.isclass(obj):
        return
    missing = [
        f"el.{name}.{member}"
        for member, _, _ in _public_members(obj)
        if _docstring(obj, member) is None
    ]
    assert not missing, f"these public methods have no docstring: {missing}"


def _blocks() -> list[str]:
    """The NAME of every `::: eqx_lagrangians.NAME` block of the site: the pages in
    docs/ and what the hooks generate into them."""
    plotted = hooks.plotted_lagrangians()
    pages = [hooks.api_markdown(), hooks.lagrangian_sections(plotted)]
    pages += [page.read_text(encoding="utf-8") for page in DOCS.glob("*.md")]
    return re.findall(r"^::: eqx_lagrangians\.(\w+)", "\n".join(pages), re.M)


def test_every_public_name_in_the_docs():
    undocumented = sorted(set(PUBLIC) - set(_blocks()))
    assert not undocumented, f"not on the documentation site: {undocumented}"


def test_each_name_documented_once():
    """mkdocs-autorefs warns (and the strict build fails) when one object has two
    `:::` blocks."""
    blocks = _blocks()
    duplicated = sorted({name for name in blocks if blocks.count(name) > 1})
    assert not duplicated, f"documented twice: {duplicated}"


def test_every_lagrangian_has_a_plot():
    plotted = hooks.plotted_lagrangians()
    missing = hooks.missing_plots(plotted)
    assert not missing, (
        f"{missing} have no plot on the Lagrangians page: add an entry for each to "
        "SHOWCASES in examples/lagrangians.py (or, for a Lagrangian built from "
        "others, to WITHOUT_PLOT in docs/hooks.py)."
    )
    assert set(plotted) <= set(PUBLIC), "SHOWCASES names a class el does not export"


def test_readme_sections_exist():
    for page in sorted(DOCS.glob("*.md")):
        hooks.expand_readme(page.read_text(encoding="utf-8"))  # KeyError if missing


def test_readme_section_parsing():
    text = (
        "# T\n\nintro\n\n## A\n\nbody [x](#benchmarks)\n"
        "```python\n# no heading\n```\n### B\n\nb\n"
    )
    assert hooks.readme_section("A", text) == (
        "body [x](benchmarks.md)\n```python\n# no heading\n```\n"
    )
    assert hooks.readme_section("T", text) == "intro\n"
    with pytest.raises(KeyError):
        hooks.readme_section("missing", text)


PAGES_WITH_CODE = sorted(
    page.name
    for page in DOCS.glob("*.md")
    if "```python" in hooks.expand_readme(page.read_text(encoding="utf-8"))
)


@pytest.mark.parametrize("page", PAGES_WITH_CODE)
def test_page_examples_run(page):
    """The Python blocks of each page, README sections included, run in order."""
    markdown = hooks.expand_readme((DOCS / page).read_text(encoding="utf-8"))
    blocks = re.findall(r"```python\n(.*?)```", markdown, flags=re.DOTALL)
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(DOCS / page), "exec"), namespace)
    if page == "training.md":
        losses = namespace["losses"]
        assert losses[-1] < 0.8 * losses[0]
