"""mkdocs hooks: the parts of the site that come from the library at build time.

- **README sections.** A page line `<!-- readme: Heading -->` becomes the body of the
  README section with that heading, up to the next heading of any level: the README
  stays the one source of the quick example, the dynamics and the benchmark tables.
- **The Lagrangians page.** `<!-- lagrangians -->` becomes one section per
  Lagrangian: its docstring (L and g as formulas, its parameters) and a plot drawn
  by `examples/lagrangians.py` (the demo's own code) into `plots/NAME.png`. The
  table is that script's `SHOWCASES`: a Lagrangian is documented by adding its entry
  there (Lagrangians built from others, `Sum` and `Scaled`, are listed in
  WITHOUT_PLOT instead). A public Lagrangian in neither still gets a section, and a
  warning that fails `mkdocs build --strict`.
- **The API reference.** `<!-- api -->` becomes a `::: eqx_lagrangians.NAME` block
  for every public name of the package, grouped by kind, so that a new name is
  documented as soon as `__init__.py` exports it.
- **MathJax** is copied into the site from the `django-static-mathjax` package (a
  PyPI package of MathJax's files that needs no Django): building and viewing the
  site need no network.

The functions that make Markdown import neither mkdocs nor matplotlib, so that
`tests/test_docstrings.py` can check the generated pages without building them.
"""

import importlib.util
import inspect
import io
import logging
import pathlib
import re
import shutil
import types


ROOT = pathlib.Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
EXAMPLE = ROOT / "examples" / "lagrangians.py"
PLOT_DIR = "plots"
PLOT_POINTS = 201
MATHJAX_DIR = "assets/mathjax"
# What of MathJax's es5/ the site needs: the TeX-to-SVG bundle (its glyphs inline, no
# web fonts to fetch) and the pieces it loads on demand (TeX extensions, the
# right-click menu, accessibility).
MATHJAX_PARTS = ("tex-svg.js", "input/tex", "ui", "a11y", "sre")
# README links that point into the README itself or into docs/, and where they point
# on the site.
README_LINKS = {
    "#benchmarks": "benchmarks.md",
    "#the-lagrangians": "lagrangians.md",
    "#associative-memories": "neurons-and-memories.md",
    "#the-dynamics": "energy-descent.md",
    "#learnable-parameters": "training.md",
    "#the-digits-demo": "training.md#the-digits-demo",
    "#many-patterns-many-devices": "scaling.md",
}

_README_MARKER = re.compile(r"^<!-- readme: (.+?) -->$", flags=re.MULTILINE)
_HEADING = re.compile(r"^(#{1,6}) (.+?)\s*$")
_LINK = re.compile(r"\]\(([^)\s]+)\)")

log = logging.getLogger("mkdocs.plugins.eqx_lagrangians")


# README sections --------------------------------------------------------------------


def readme_section(heading: str, text: str | None = None) -> str:
    """The body of the README section titled `heading` (any level), up to the next
    heading, with its links rewritten for the site. Raises `KeyError` if no section
    has that title."""
    lines = (README.read_text(encoding="utf-8") if text is None else text).splitlines()
    body, inside, fenced = [], False, False
    for line in lines:
        if line.startswith("```"):
            fenced = not fenced
        match = None if fenced else _HEADING.match(line)
        if match:
            if inside:
                break
            inside = match.group(2) == heading
            continue
        if inside:
            body.append(line)
    if not inside:
        raise KeyError(f"README.md has no section titled {heading!r}.")
    return _rewrite_links("\n".join(body).strip("\n") + "\n")


def _rewrite_links(markdown: str) -> str:
    def rewrite(match: re.Match) -> str:
        target = match.group(1)
        target = README_LINKS.get(target, target)
        if target.startswith("docs/"):
            target = target.removeprefix("docs/")
        return f"]({target})"

    return _LINK.sub(rewrite, markdown)


def expand_readme(markdown: str) -> str:
    """`markdown` with every `<!-- readme: Heading -->` line replaced by that README
    section."""
    return _README_MARKER.sub(lambda m: readme_section(m.group(1)), markdown)


# Public names -----------------------------------------------------------------------


def public_names() -> list[str]:
    """Every public name of `eqx_lagrangians`, in alphabetical order."""
    import eqx_lagrangians as el

    return sorted(
        name
        for name in dir(el)
        if not name.startswith("_") and not inspect.ismodule(getattr(el, name))
    )


def concrete_lagrangians() -> list[str]:
    """The public Lagrangian classes that can be built (not `Abstract*`)."""
    import eqx_lagrangians as el

    return [
        name
        for name in public_names()
        if inspect.isclass(getattr(el, name))
        and issubclass(getattr(el, name), el.AbstractLagrangian)
        and not inspect.isabstract(getattr(el, name))
        and not name.startswith("Abstract")
    ]


# (heading, which public objects it holds, what the heading says), in page order.
# Every public name lands in the first group that claims it, the rest in "Other".
API_GROUPS = (
    (
        "Lagrangians",
        "lagrangian",
        "The modules; each is documented in full, with "
        "its plot, on [the Lagrangians page](lagrangians.md).",
    ),
    ("Functional API", "functional", "The value of each Lagrangian as a function."),
    ("Neurons", "_neurons", ""),
    ("Synapses", "_synapses", ""),
    ("Associative memories", "_memory", ""),
    ("Energy descent", "_descent", ""),
    ("Other", "other", ""),
)


def _group(name: str) -> str:
    import eqx_lagrangians as el

    obj = getattr(el, name)
    if inspect.isclass(obj) and issubclass(obj, el.AbstractLagrangian):
        return "lagrangian"
    if name.startswith("lagr_"):
        return "functional"
    module = getattr(obj, "__module__", "") or ""
    for _, key, _ in API_GROUPS:
        if module == f"eqx_lagrangians.{key}":
            return key
    return "other"


def api_markdown() -> str:
    """The API reference: a `:::` block for every public name (the Lagrangian
    classes, which have theirs on the Lagrangians page, as links to it)."""
    elsewhere = set(concrete_lagrangians()) | set(LAGRANGIANS_PAGE_HEADER)
    by_group: dict[str, list[str]] = {}
    for name in public_names():
        by_group.setdefault(_group(name), []).append(name)
    parts = []
    for heading, key, intro in API_GROUPS:
        names = by_group.get(key, [])
        if not names:
            continue
        parts.append(f"## {heading}\n")
        if intro:
            parts.append(f"{intro}\n")
        links = [n for n in names if n in elsewhere]
        if links:
            parts.append(
                ", ".join(f"[`el.{n}`][eqx_lagrangians.{n}]" for n in links) + "\n"
            )
        parts.extend(f"::: eqx_lagrangians.{n}\n" for n in names if n not in elsewhere)
    return "\n".join(parts)


# The Lagrangians page ---------------------------------------------------------------

# Documented by docs/lagrangians.md itself, above the generated sections.
LAGRANGIANS_PAGE_HEADER = ("AbstractLagrangian",)
# Lagrangians built from other Lagrangians (`L1 + L2`, `c * L`): a section without a
# plot, after the plotted ones. Every other public Lagrangian needs a SHOWCASES entry.
WITHOUT_PLOT = ("Sum", "Scaled")


def load_example() -> types.ModuleType:
    """`examples/lagrangians.py`, imported (its SHOWCASES, compute and draw)."""
    spec = importlib.util.spec_from_file_location("examples_lagrangians", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def plotted_lagrangians(example: types.ModuleType | None = None) -> list[str]:
    """The Lagrangians that the example's SHOWCASES table plots, in its order."""
    example = load_example() if example is None else example
    return [entry[0] for entry in example.SHOWCASES]


def plot_path(name: str) -> str:
    return f"{PLOT_DIR}/{name.lower()}.png"


def missing_plots(plotted: list[str]) -> list[str]:
    """The public Lagrangians that have neither a SHOWCASES entry nor a place in
    WITHOUT_PLOT."""
    return [
        name
        for name in concrete_lagrangians()
        if name not in plotted and name not in WITHOUT_PLOT
    ]


def lagrangian_sections(plotted: list[str]) -> str:
    """One section per public Lagrangian: the plotted ones in SHOWCASES order, then
    the rest (without a plot)."""
    concrete = concrete_lagrangians()
    names = [n for n in plotted if n in concrete]
    names += [n for n in concrete if n not in plotted]
    parts = []
    for name in names:
        parts.append(
            f"::: eqx_lagrangians.{name}\n    options:\n      heading_level: 2\n"
            "      members: false\n"
        )
        if name in plotted:
            parts.append(
                f"![{name}, its Lagrangian and activation]({plot_path(name)})\n"
            )
    return "\n".join(parts)


def render_plots(example: types.ModuleType) -> dict[str, bytes]:
    """The PNG of every entry of SHOWCASES, drawn by the example's own code."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots = {}
    for case in example.make_showcases():
        data = example.compute(case, PLOT_POINTS)
        fig, ax = plt.subplots(figsize=(6.4, 4.8), layout="constrained")
        example.draw(ax, case, data)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=example.DPI)
        plt.close(fig)
        plots[plot_path(case.name)] = buffer.getvalue()
    return plots


# mkdocs events ----------------------------------------------------------------------

_state: dict = {}


def on_files(files, config):
    from mkdocs.structure.files import File

    example = load_example()
    _state["plotted"] = plotted_lagrangians(example)
    for path, png in render_plots(example).items():
        files.append(File.generated(config, path, content=png))
    return files


def on_page_markdown(markdown, page, config, files):
    markdown = expand_readme(markdown)
    if "<!-- lagrangians -->" in markdown:
        plotted = _state["plotted"]
        for name in missing_plots(plotted):
            log.warning(
                f"el.{name} has no plot: add its entry to SHOWCASES in "
                "examples/lagrangians.py (or, for a Lagrangian built from others, "
                "its name to WITHOUT_PLOT in docs/hooks.py)."
            )
        sections = lagrangian_sections(plotted)
        markdown = markdown.replace("<!-- lagrangians -->", sections)
    if "<!-- api -->" in markdown:
        markdown = markdown.replace("<!-- api -->", api_markdown())
    return markdown


def on_post_build(config):
    import mathjax

    source = pathlib.Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    target = pathlib.Path(config["site_dir"]) / MATHJAX_DIR
    for part in MATHJAX_PARTS:
        if (source / part).is_dir():
            shutil.copytree(source / part, target / part, dirs_exist_ok=True)
        else:
            (target / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / part, target / part)
