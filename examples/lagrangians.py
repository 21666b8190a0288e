r"""A tour of the ten Lagrangians of `eqx_lagrangians` and their activations.

Every Lagrangian $L$ is a convex scalar function of a layer's state $x$; its gradient
$g = \nabla L(x)$ is the layer's activation function and its Legendre transform
$E(x) = \sum_i x_i g_i - L(x)$ is the layer's energy. This script

1. prints a table of $L(x)$, $E(x)$ and $g(x)$ for one sample input
   $x = [-2, -0.5, 0, 0.5, 2]$ and every Lagrangian;
2. saves one plot per Lagrangian to the output directory:
    - elementwise Lagrangians ($L(x) = \sum_i \ell(x_i)$): the per-neuron value
      $\ell(x)$ and the activation $g(x) = \ell'(x)$ over $x \in [-3, 3]$;
    - Softmax: the activation of a vector of ten neurons at three temperatures;
    - LayerNorm and SphericalNorm: $L$ over a plane of two neurons as contours, the
      activation as arrows, and the image under $g$ of a circle (the projection);
3. saves `all.png`, the ten plots side by side.

Every value is computed by the library: `L(x)`, `L.activation(x)` (the gradient of
`L`), `L.energy(x)`, vectorised over the plotted points with `jax.vmap`.

Run it with

```
make demo
```

or, with options,

```
.venv/bin/python examples/lagrangians.py --out-dir outputs/lagrangians --num-points 401
```
"""

import argparse
import dataclasses
import os
import pathlib

import equinox as eqx
import jax
import jax.numpy as jnp
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from jaxtyping import Array, ArrayLike, Float
from matplotlib.axes import Axes
from matplotlib.lines import Line2D

import eqx_lagrangians as el


# The input of the printed table.
SAMPLE_X = (-2.0, -0.5, 0.0, 0.5, 2.0)
# Elementwise plots: x range and a shared y range, so that panels compare at a glance.
X_LIM = 3.0
ELEMENTWISE_Y_LIM = (-3.5, 6.0)
# Softmax plot: ten neurons with fixed (arbitrary) inputs, at three temperatures.
SOFTMAX_X = (0.3, -1.2, 1.5, 0.1, -0.4, 2.0, -2.1, 0.8, 1.1, -0.7)
SOFTMAX_BETAS = (0.5, 1.0, 4.0)
# Normalising plots: arrows on a coarse grid and the circle whose image is drawn.
ARROW_POINTS = 9
CIRCLE_RADIUS = 2.0
CIRCLE_POINTS = 48
SIGNIFICANT_DIGITS = 4
DPI = 120
# (class name, constructor arguments, formula of its value and activation). Elementwise
# Lagrangians show the per-neuron term ℓ, the others the whole L.
SHOWCASES = (
    ("Identity", {}, r"$\ell(x) = \frac{1}{2}x^2, \quad g(x) = x$"),
    (
        "RePU",
        {"n": 3},
        r"$\ell(x) = \frac{1}{n}\max(x, 0)^n, \quad g(x) = \max(x, 0)^{n-1}$",
    ),
    ("ReLU", {}, r"$\ell(x) = \frac{1}{2}\max(x, 0)^2, \quad g(x) = \max(x, 0)$"),
    (
        "Exp",
        {"beta": 0.5},
        r"$\ell(x) = \frac{1}{\beta}e^{\beta x}, \quad g(x) = e^{\beta x}$",
    ),
    (
        "RExp",
        {"beta": 1.0},
        r"$\ell(x) = \frac{1}{\beta}e^{\beta x_+} - x_+, \quad "
        r"g(x) = e^{\beta x_+} - 1, \quad x_+ = \max(x, 0)$",
    ),
    (
        "Tanh",
        {"beta": 2.0},
        r"$\ell(x) = \frac{1}{\beta}\log\cosh(\beta x), \quad g(x) = \tanh(\beta x)$",
    ),
    (
        "Sigmoid",
        {"beta": 2.0},
        r"$\ell(x) = \frac{1}{\beta}\log(1 + e^{\beta x}), \quad "
        r"g(x) = \sigma(\beta x)$",
    ),
    (
        "Softmax",
        {"beta": 1.0},
        r"$L(x) = \frac{1}{\beta}\log\sum_j e^{\beta x_j}, \quad "
        r"g(x) = \mathrm{softmax}(\beta x)$",
    ),
    (
        "LayerNorm",
        {"gamma": 1.0},
        r"$L(x) = D\gamma\sqrt{\mathrm{Var}(x) + \epsilon}, \quad "
        r"g(x) = \gamma\,\frac{x - \bar{x}}{\sqrt{\mathrm{Var}(x) + \epsilon}}$",
    ),
    (
        "SphericalNorm",
        {"gamma": 1.0},
        r"$L(x) = \gamma\sqrt{\|x\|^2 + \epsilon}, \quad "
        r"g(x) = \gamma\,\frac{x}{\sqrt{\|x\|^2 + \epsilon}}$",
    ),
    (
        "ELU",
        {"alpha": 1.0},
        r"$\ell(x) = \frac{1}{2}x^2$ or $\alpha(e^x - x - 1), \quad "
        r"g(x) = x$ or $\alpha(e^x - 1)$",
    ),
    (
        "Ghostmax",
        {"beta": 1.0},
        r"$L(x) = \frac{1}{\beta}\log(1 + \sum_j e^{\beta x_j}), \quad "
        r"g_i(x) = \frac{e^{\beta x_i}}{1 + \sum_j e^{\beta x_j}}$",
    ),
    (
        "RMSNorm",
        {"gamma": 1.0},
        r"$L(x) = D\gamma\sqrt{\overline{x^2} + \epsilon}, \quad "
        r"g(x) = \gamma\,\frac{x}{\sqrt{\overline{x^2} + \epsilon}}$",
    ),
    (
        "Sparsemax",
        {"beta": 1.0},
        r"$L(x) = \frac{1}{\beta}\max_{p \in \Delta} p \cdot \beta x - "
        r"\frac{1}{2}\|p\|^2, \quad g(x) = \mathrm{sparsemax}(\beta x)$",
    ),
    (
        "Entmax",
        {"alpha": 1.5, "beta": 1.0},
        r"$L(x) = \frac{1}{\beta}\max_{p \in \Delta} p \cdot \beta x + "
        r"H^\alpha(p), \quad g(x) = \alpha\mathrm{\text{-}entmax}(\beta x)$",
    ),
)
_TEX_NAMES = {"alpha": r"\alpha", "beta": r"\beta", "gamma": r"\gamma"}
# Which plot each kind of Lagrangian gets (elementwise ones get curves).
COMPETING = (el.Softmax, el.Ghostmax, el.Sparsemax, el.Entmax)
NORMALISING = (el.LayerNorm, el.SphericalNorm, el.RMSNorm)


@dataclasses.dataclass(frozen=True)
class Showcase:
    """One Lagrangian with the parameters it is shown at and its formula."""

    name: str
    params: dict[str, float]
    formula: str
    lagrangian: el.AbstractLagrangian

    @property
    def label(self) -> str:
        """`Tanh(beta=2)`, for the table."""
        if not self.params:
            return self.name
        args = ", ".join(f"{k}={v:g}" for k, v in self.params.items())
        return f"{self.name}({args})"

    @property
    def tex_label(self) -> str:
        r"""`Tanh($\beta=2$)`, for plot titles."""
        if not self.params:
            return self.name
        args = ", ".join(
            f"{_TEX_NAMES.get(k, k)}={v:g}" for k, v in self.params.items()
        )
        return f"{self.name}(${args}$)"

    @property
    def title(self) -> str:
        return f"{self.tex_label}\n{self.formula}"


def make_showcases() -> list[Showcase]:
    return [
        Showcase(name, params, formula, getattr(el, name)(**params))
        for name, params, formula in SHOWCASES
    ]


def _fmt(value: float) -> str:
    return f"{value:.{SIGNIFICANT_DIGITS}g}"


@eqx.filter_jit
def evaluate(
    L: el.AbstractLagrangian, x: Float[Array, " n"]
) -> tuple[Float[Array, ""], Float[Array, " n"], Float[Array, ""]]:
    """L(x), g(x) and E(x) for one input."""
    return L(x), L.activation(x), L.energy(x)


@eqx.filter_jit
def batched(
    L: el.AbstractLagrangian, xs: Float[ArrayLike, "batch n"]
) -> tuple[Float[Array, " batch"], Float[Array, "batch n"]]:
    """L(x) and g(x) for each row x of `xs`."""
    return jax.vmap(L)(xs), jax.vmap(L.activation)(xs)


def format_table(showcases: list[Showcase], x: Float[Array, " n"]) -> str:
    """An aligned table of L(x), E(x) and g(x) for every Lagrangian."""
    rows = []
    for case in showcases:
        value, g, energy = evaluate(case.lagrangian, x)
        g = [_fmt(v) for v in g.tolist()]
        rows.append((case.label, _fmt(value.item()), _fmt(energy.item()), g))
    name_w = max(len("Lagrangian"), *(len(r[0]) for r in rows))
    value_w = max(len("L(x)"), *(len(r[1]) for r in rows))
    energy_w = max(len("E(x)"), *(len(r[2]) for r in rows))
    g_w = max(len(v) for r in rows for v in r[3])

    def line(name, value, energy, g):
        return f"{name:<{name_w}}  {value:>{value_w}}  {energy:>{energy_w}}  {g}"

    header = line("Lagrangian", "L(x)", "E(x)", "g(x) = activation(x)")
    lines = [header, "-" * len(header)]
    for name, value, energy, g in rows:
        lines.append(
            line(name, value, energy, "[" + "  ".join(v.rjust(g_w) for v in g) + "]")
        )
    return "\n".join(lines)


def _grid(lim: float, num: int) -> tuple[np.ndarray, np.ndarray]:
    """The coordinates of a `num` x `num` grid over the square [-lim, lim]²."""
    return np.meshgrid(np.linspace(-lim, lim, num), np.linspace(-lim, lim, num))


def compute(case: Showcase, num_points: int) -> dict[str, np.ndarray]:
    """Everything a plot of `case` shows, as NumPy arrays (computed once, drawn in
    its own figure and in the overview)."""
    L = case.lagrangian
    if isinstance(L, COMPETING):
        x = np.asarray(SOFTMAX_X)[None]
        g = [
            batched(type(L)(**{**case.params, "beta": beta}), x)[1][0]
            for beta in SOFTMAX_BETAS
        ]
        return {"g": np.stack(g)}
    if isinstance(L, NORMALISING):
        x1, x2 = _grid(X_LIM, num_points)
        values, _ = batched(L, np.stack([x1.ravel(), x2.ravel()], axis=-1))
        a1, a2 = _grid(X_LIM - 0.5, ARROW_POINTS)
        arrows = np.stack([a1.ravel(), a2.ravel()], axis=-1)
        # Offset by half a step so that no point lies exactly on the diagonal x1 = x2.
        theta = (np.arange(CIRCLE_POINTS) + 0.5) * (2 * np.pi / CIRCLE_POINTS)
        circle = CIRCLE_RADIUS * np.stack([np.cos(theta), np.sin(theta)], axis=-1)
        # Arrows and circle in one batch: one compilation.
        _, g = batched(L, np.concatenate([arrows, circle]))
        g = np.asarray(g)
        return {
            "x1": x1,
            "x2": x2,
            "values": np.asarray(values).reshape(x1.shape),
            "arrows": arrows,
            "arrow_g": g[: len(arrows)],
            "circle": circle,
            "circle_g": g[len(arrows) :],
        }
    # Elementwise: one neuron per point; the value of a 1-element input is ℓ(x).
    xs = np.linspace(-X_LIM, X_LIM, num_points)
    values, g = batched(L, xs[:, None])
    return {"x": xs, "values": np.asarray(values), "g": np.asarray(g)[:, 0]}


def draw_elementwise(ax: Axes, case: Showcase, data: dict[str, np.ndarray]) -> None:
    """The per-neuron term ℓ(x) = L([x]) and the activation g(x) = ℓ'(x)."""
    ax.axhline(0.0, color="0.75", linewidth=0.8, zorder=0)
    ax.axvline(0.0, color="0.75", linewidth=0.8, zorder=0)
    ax.plot(data["x"], data["values"], color="C0", linewidth=2, label=r"$\ell(x)$")
    ax.plot(data["x"], data["g"], color="C3", linewidth=2, label=r"$g(x) = \ell'(x)$")
    ax.set_xlim(-X_LIM, X_LIM)
    ax.set_ylim(*ELEMENTWISE_Y_LIM)
    ax.set_xlabel(r"$x$")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    ax.set_title(case.title, fontsize=10)


def draw_softmax(ax: Axes, case: Showcase, data: dict[str, np.ndarray]) -> None:
    """The activation of ten competing neurons at several inverse temperatures."""
    positions = np.arange(len(SOFTMAX_X))
    width = 0.8 / len(SOFTMAX_BETAS)
    for i, (beta, g) in enumerate(zip(SOFTMAX_BETAS, data["g"], strict=True)):
        offset = (i - (len(SOFTMAX_BETAS) - 1) / 2) * width
        ax.bar(positions + offset, g, width, label=rf"$\beta = {beta:g}$")
    ax.axhline(
        1 / len(SOFTMAX_X), color="0.4", linestyle="--", linewidth=1, label="uniform"
    )
    ax.set_xticks(positions, [f"{v:g}" for v in SOFTMAX_X])
    ax.set_xlabel(r"input $x_i$ of each of the ten neurons")
    ax.set_ylabel(r"$g_i(x)$")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper left")
    ax.set_title(f"{case.name}\n{case.formula}", fontsize=10)


def draw_normalising(ax: Axes, case: Showcase, data: dict[str, np.ndarray]) -> None:
    """Two neurons: contours of L, arrows of g = ∇L, and the image of a circle
    under g (where the normalisation projects to)."""
    filled = ax.contourf(
        data["x1"], data["x2"], data["values"], levels=12, cmap="Blues"
    )
    ax.contour(
        data["x1"],
        data["x2"],
        data["values"],
        levels=filled.levels,
        colors="white",
        linewidths=0.5,
    )
    ax.figure.colorbar(filled, ax=ax, label=r"$L(x)$", shrink=0.85)
    ax.quiver(
        data["arrows"][:, 0],
        data["arrows"][:, 1],
        data["arrow_g"][:, 0],
        data["arrow_g"][:, 1],
        angles="xy",
        scale_units="xy",
        scale=2.5,
        color="0.15",
        width=0.005,
    )
    circle, image = data["circle"], data["circle_g"]
    ax.plot(circle[:, 0], circle[:, 1], color="C1", linestyle=":", linewidth=1.5)
    ax.scatter(image[:, 0], image[:, 1], color="C3", s=10, zorder=3)

    handles = [
        Line2D(
            [],
            [],
            color="C1",
            linestyle=":",
            linewidth=1.5,
            label=rf"$\|x\| = {CIRCLE_RADIUS:g}$",
        ),
        Line2D(
            [],
            [],
            color="C3",
            marker="o",
            linestyle="none",
            markersize=4,
            label=r"$g(x)$ of that circle",
        ),
        Line2D(
            [],
            [],
            color="0.15",
            marker=r"$\rightarrow$",
            linestyle="none",
            markersize=12,
            label=r"$g(x)$ (arrows)",
        ),
    ]
    ax.legend(handles=handles, loc="upper left", fontsize=8, framealpha=0.9)
    ax.set_xlim(-X_LIM, X_LIM)
    ax.set_ylim(-X_LIM, X_LIM)
    ax.set_aspect("equal")
    ax.set_xlabel(r"$x_1$")
    ax.set_ylabel(r"$x_2$")
    ax.set_title(case.title, fontsize=10)


def draw(ax: Axes, case: Showcase, data: dict[str, np.ndarray]) -> None:
    if isinstance(case.lagrangian, COMPETING):
        draw_softmax(ax, case, data)
    elif isinstance(case.lagrangian, NORMALISING):
        draw_normalising(ax, case, data)
    else:
        draw_elementwise(ax, case, data)


def main(
    out_dir: str | os.PathLike = "outputs/lagrangians",
    num_points: int = 401,
    show: bool = False,
) -> list[pathlib.Path]:
    """Print the table, save the plots and return their paths.

    **Arguments:**

    - `out_dir`: where the PNGs go; created if missing.
    - `num_points`: samples along each axis of every curve and contour grid.
    - `show`: also display the overview figure in a window.

    **Returns:**

    The paths of the files written, the overview `all.png` last.
    """
    if not show:
        # Files only: no window, and no display needed on a headless machine.
        matplotlib.use("Agg")
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    showcases = make_showcases()

    x = jnp.asarray(SAMPLE_X)
    print(f"x = [{', '.join(f'{v:g}' for v in SAMPLE_X)}]\n")
    print(format_table(showcases, x))
    print()

    data = [compute(case, num_points) for case in showcases]
    paths = []
    for case, case_data in zip(showcases, data, strict=True):
        fig, ax = plt.subplots(figsize=(6.4, 4.8), layout="constrained")
        draw(ax, case, case_data)
        path = out_dir / f"{case.name.lower()}.png"
        fig.savefig(path, dpi=DPI)
        plt.close(fig)
        paths.append(path)

    rows = -(-len(showcases) // 5)
    fig, axes = plt.subplots(rows, 5, figsize=(22, 4.5 * rows), layout="constrained")
    for ax, case, case_data in zip(axes.flat, showcases, data):
        draw(ax, case, case_data)
    for ax in axes.flat[len(showcases) :]:
        ax.set_axis_off()
    fig.suptitle(
        r"Lagrangians $L(x)$ and their activations $g(x) = \nabla L(x)$", fontsize=16
    )
    path = out_dir / "all.png"
    fig.savefig(path, dpi=DPI)
    paths.append(path)

    for path in paths:
        print(f"wrote {path}")
    if show:
        plt.show()
    plt.close(fig)
    return paths


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description="Print and plot the Lagrangians of eqx_lagrangians."
    )
    parser.add_argument(
        "--out-dir",
        default="outputs/lagrangians",
        help="directory for the PNGs (default: %(default)s)",
    )
    parser.add_argument(
        "--num-points",
        type=int,
        default=401,
        help="samples per axis of each plot (default: %(default)s)",
    )
    parser.add_argument(
        "--show", action="store_true", help="also display the overview figure"
    )
    args = parser.parse_args()
    main(out_dir=args.out_dir, num_points=args.num_points, show=args.show)
