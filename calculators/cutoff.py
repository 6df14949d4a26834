"""Cutoff (smoothing) functions and radial scalings of the neighbour density.

Every function returns ``(values, derivatives)`` with respect to the distance, as
tensors of the same shape, dtype and device as ``distances``; both are differentiable
by autograd.

Formulas (featomic 0.6 conventions, with ``r_c`` the cutoff radius):

- ``ShiftedCosine(width=w)``: 1 for ``r ≤ r_c − w``,
  ``½(1 + cos(π (r − r_c + w) / w))`` for ``r_c − w < r < r_c``, 0 for ``r ≥ r_c``.
- ``Step()``: 1 for ``r ≤ r_c``, 0 beyond; derivative 0.
- ``Willatt2018(rate=c, scale=r0, exponent=m)``: ``c / (c + (r / r0)^m)``, with
  derivative ``−c m (r/r0)^(m−1) / (r0 (c + (r/r0)^m)²)``; ``c = 0`` gives
  ``(r0 / r)^m``. (featomic's Python class swaps value and derivative; this one does not.)
"""

from __future__ import annotations

import math
from typing import Optional, Tuple

import torch

__all__ = [
    "ShiftedCosine",
    "Step",
    "Willatt2018",
    "smoothing_from_hypers",
    "scaling_from_hypers",
]

Pair = Tuple[torch.Tensor, torch.Tensor]


def _positive_float(value, name, allow_zero=False):
    try:
        value = float(value)
    except (TypeError, ValueError) as error:
        raise TypeError(f"`{name}` must be a number, found {type(value).__name__}") from error
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        expected = "non-negative" if allow_zero else "positive"
        raise ValueError(f"`{name}` must be a finite {expected} number, found {value}")
    return value


class ShiftedCosine(torch.nn.Module):
    """Shifted cosine smoothing over the last ``width`` before the cutoff.

    Parameters
    ----------
    width : float
        Width of the smoothing region, ``0 < width ≤ radius``.

    Examples
    --------
    >>> import torch
    >>> values, derivatives = ShiftedCosine(width=1.0).compute(
    ...     torch.tensor([1.0, 3.5, 4.0, 5.0]), radius=4.0
    ... )
    >>> [round(v, 6) for v in values.tolist()], [round(d, 6) for d in derivatives.tolist()]
    ([1.0, 0.5, 0.0, 0.0], [0.0, -1.570796, 0.0, 0.0])
    """

    def __init__(self, width: float):
        super().__init__()
        self.width = _positive_float(width, "width")

    def compute(self, distances: torch.Tensor, radius: float) -> Pair:
        radius = _positive_float(radius, "radius")
        if self.width > radius:
            raise ValueError(
                f"`width` ({self.width}) must not exceed the cutoff `radius` ({radius})"
            )
        start = radius - self.width
        inside = (distances > start) & (distances < radius)
        # clamping keeps the cosine argument in range so autograd sees no NaN
        s = math.pi * (torch.clamp(distances, start, radius) - start) / self.width
        values = torch.where(
            distances <= start,
            torch.ones_like(distances),
            torch.where(inside, 0.5 * (1.0 + torch.cos(s)), torch.zeros_like(distances)),
        )
        derivatives = torch.where(
            inside, -0.5 * math.pi / self.width * torch.sin(s), torch.zeros_like(distances)
        )
        return values, derivatives

    def extra_repr(self) -> str:
        return f"width={self.width}"


class Step(torch.nn.Module):
    """No smoothing: 1 inside the cutoff (``r ≤ radius``), 0 outside.

    Examples
    --------
    >>> import torch
    >>> Step().compute(torch.tensor([1.0, 5.0]), radius=4.0)[0].tolist()
    [1.0, 0.0]
    """

    def compute(self, distances: torch.Tensor, radius: float) -> Pair:
        radius = _positive_float(radius, "radius")
        values = (distances <= radius).to(distances.dtype)
        return values, torch.zeros_like(distances)


class Willatt2018(torch.nn.Module):
    """Radial scaling ``rate / (rate + (r / scale)^exponent)`` (Willatt et al. 2018).

    Parameters
    ----------
    rate : float
        ``c ≥ 0``; ``c = 0`` gives ``(scale / r)^exponent``.
    scale : float
        ``r0 > 0``.
    exponent : int
        ``m ≥ 1``.

    Examples
    --------
    >>> import torch
    >>> values, derivatives = Willatt2018(rate=1.0, scale=2.0, exponent=2).compute(
    ...     torch.tensor([2.0])
    ... )
    >>> values.tolist(), derivatives.tolist()
    ([0.5], [-0.25])
    """

    def __init__(self, rate: float, scale: float, exponent: int):
        super().__init__()
        self.rate = _positive_float(rate, "rate", allow_zero=True)
        self.scale = _positive_float(scale, "scale")
        # featomic's native code rejects 0 too (its Python class returns 1 instead of
        # the formula's rate / (rate + 1)): refusing avoids the ambiguity
        if int(exponent) != exponent or exponent < 1:
            raise ValueError(f"`exponent` must be a positive integer, found {exponent}")
        self.exponent = int(exponent)

    def compute(self, distances: torch.Tensor) -> Pair:
        m = self.exponent
        rs = distances / self.scale
        if self.rate == 0.0:
            values = rs ** (-m)
            return values, -m * values / distances
        denominator = self.rate + rs**m
        values = self.rate / denominator
        derivatives = -self.rate * m * rs ** (m - 1) / (self.scale * denominator**2)
        return values, derivatives

    def extra_repr(self) -> str:
        return f"rate={self.rate}, scale={self.scale}, exponent={self.exponent}"


def smoothing_from_hypers(hypers: Optional[dict]):
    """Build a smoothing function from featomic-style hypers.

    ``None`` or ``{"type": "Step"}`` give :class:`Step`;
    ``{"type": "ShiftedCosine", "width": w}`` gives :class:`ShiftedCosine`.

    Examples
    --------
    >>> smoothing_from_hypers({"type": "ShiftedCosine", "width": 0.5})
    ShiftedCosine(width=0.5)
    """
    if hypers is None:
        return Step()
    if isinstance(hypers, (ShiftedCosine, Step)):
        return hypers
    if not isinstance(hypers, dict) or "type" not in hypers:
        raise TypeError(
            f"`smoothing` must be None or a dict with a 'type' key, found {hypers!r}"
        )
    kind = hypers["type"]
    if kind == "Step":
        return Step()
    if kind == "ShiftedCosine":
        return ShiftedCosine(width=hypers["width"])
    raise ValueError(f"`smoothing` type must be 'Step' or 'ShiftedCosine', found '{kind}'")


def scaling_from_hypers(hypers: Optional[dict]):
    """Build a radial scaling from featomic-style hypers (``None`` → no scaling).

    Examples
    --------
    >>> scaling_from_hypers({"type": "Willatt2018", "rate": 1.0, "scale": 2.0, "exponent": 4})
    Willatt2018(rate=1.0, scale=2.0, exponent=4)
    """
    if hypers is None or isinstance(hypers, Willatt2018):
        return hypers
    if not isinstance(hypers, dict) or hypers.get("type") != "Willatt2018":
        raise ValueError(f"`scaling` must be None or a Willatt2018 dict, found {hypers!r}")
    return Willatt2018(rate=hypers["rate"], scale=hypers["scale"], exponent=hypers["exponent"])
