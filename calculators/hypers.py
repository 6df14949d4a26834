"""Typed hyper-parameters, with the names and fields of featomic 0.6's ``featomic.cutoff``,
``featomic.density`` and ``featomic.basis`` classes.

The calculators take either these objects or the equivalent dicts; each object turns
into its dict with :meth:`to_dict`, and :func:`as_hypers_dict` does so for any argument
(dicts with typed values inside included). The dicts stay the one form the calculators
read, so both spellings give the same calculator:

>>> from calculators import SoapPowerSpectrum
>>> from calculators.hypers import Cutoff, Gaussian, Gto, ShiftedCosine, TensorProduct
>>> calculator = SoapPowerSpectrum(
...     cutoff=Cutoff(radius=3.0, smoothing=ShiftedCosine(width=0.5)),
...     density=Gaussian(width=0.3),
...     basis=TensorProduct(max_angular=2, radial=Gto(max_radial=3)),
... )
>>> calculator.hypers["cutoff"]
{'radius': 3.0, 'smoothing': {'type': 'ShiftedCosine', 'width': 0.5}}
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional, Union

__all__ = [
    "Cutoff",
    "DiracDelta",
    "Gaussian",
    "Gto",
    "LaplacianEigenstate",
    "ShiftedCosine",
    "Step",
    "TensorProduct",
    "Willatt2018",
    "as_hypers_dict",
]


class _Hypers:
    """``to_dict``: the featomic dict of the object, ``type`` first when it has one, fields
    left at ``None`` omitted, nested objects turned into dicts."""

    _type: Optional[str] = None

    def to_dict(self) -> dict:
        result = {} if self._type is None else {"type": self._type}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is not None:
                result[field.name] = value.to_dict() if isinstance(value, _Hypers) else value
        return result


# ----------------------------------------------------------------------------- cutoff
@dataclass(frozen=True)
class ShiftedCosine(_Hypers):
    """Smoothing over the last ``width`` Å before the cutoff.

    >>> ShiftedCosine(width=0.5).to_dict()
    {'type': 'ShiftedCosine', 'width': 0.5}
    """

    width: float
    _type = "ShiftedCosine"


@dataclass(frozen=True)
class Step(_Hypers):
    """No smoothing: the density stops at the cutoff.

    >>> Step().to_dict()
    {'type': 'Step'}
    """

    _type = "Step"


@dataclass(frozen=True)
class Cutoff(_Hypers):
    """Spherical cutoff of ``radius`` Å with a ``smoothing`` function.

    >>> Cutoff(radius=5.0, smoothing=Step()).to_dict()
    {'radius': 5.0, 'smoothing': {'type': 'Step'}}
    """

    radius: float
    smoothing: Optional[Union[ShiftedCosine, Step]] = None


# ---------------------------------------------------------------------------- density
@dataclass(frozen=True, kw_only=True)
class Willatt2018(_Hypers):
    """Radial scaling ``rate / (rate + (r / scale)^exponent)`` of the density.

    >>> Willatt2018(exponent=4, rate=1.0, scale=2.0).to_dict()
    {'type': 'Willatt2018', 'exponent': 4, 'rate': 1.0, 'scale': 2.0}
    """

    exponent: int
    rate: float
    scale: float
    _type = "Willatt2018"


@dataclass(frozen=True, kw_only=True)
class Gaussian(_Hypers):
    """Gaussian atomic densities of ``width`` Å.

    >>> Gaussian(width=0.3).to_dict()
    {'type': 'Gaussian', 'width': 0.3, 'center_atom_weight': 1.0}
    """

    width: float
    center_atom_weight: float = 1.0
    scaling: Optional[Willatt2018] = None
    _type = "Gaussian"


@dataclass(frozen=True, kw_only=True)
class DiracDelta(_Hypers):
    """Point (Dirac delta) atomic densities.

    >>> DiracDelta(center_atom_weight=0.0).to_dict()
    {'type': 'DiracDelta', 'center_atom_weight': 0.0}
    """

    center_atom_weight: float = 1.0
    scaling: Optional[Willatt2018] = None
    _type = "DiracDelta"


# ------------------------------------------------------------------------------ basis
@dataclass(frozen=True, kw_only=True)
class Gto(_Hypers):
    """Gaussian-type orbitals ``n = 0 … max_radial`` (featomic's definition), spread up to
    ``radius`` (default: the cutoff radius).

    >>> Gto(max_radial=7).to_dict()
    {'type': 'Gto', 'max_radial': 7}
    """

    max_radial: int
    radius: Optional[float] = None
    _type = "Gto"


@dataclass(frozen=True, kw_only=True)
class TensorProduct(_Hypers):
    """Spherical harmonics up to ``max_angular`` times the ``radial`` basis for every ``l``.

    >>> TensorProduct(max_angular=6, radial=Gto(max_radial=7)).to_dict()["radial"]
    {'type': 'Gto', 'max_radial': 7}
    """

    max_angular: int
    radial: Gto
    spline_accuracy: Optional[float] = 1e-8
    _type = "TensorProduct"


@dataclass(frozen=True, kw_only=True)
class LaplacianEigenstate(_Hypers):
    """The Laplacian-eigenstate basis (Bigi et al. 2022): ``max_radial + 1`` functions for
    ``l = 0``, fewer for higher ``l``, on ``[0, radius]`` (default: the cutoff radius).

    >>> LaplacianEigenstate(max_radial=4, max_angular=3).to_dict()
    {'type': 'LaplacianEigenstate', 'max_radial': 4, 'max_angular': 3, 'spline_accuracy': 1e-08}
    """

    max_radial: int
    max_angular: Optional[int] = None
    radius: Optional[float] = None
    spline_accuracy: Optional[float] = 1e-8
    _type = "LaplacianEigenstate"


def as_hypers_dict(value, argument: str) -> dict:
    """``value`` (a dict, or one of this module's objects) as a featomic hyper dict, typed
    values inside dicts converted too; a ``TypeError`` naming ``argument`` otherwise.

    >>> as_hypers_dict({"radius": 4.0, "smoothing": ShiftedCosine(width=0.5)}, "cutoff")
    {'radius': 4.0, 'smoothing': {'type': 'ShiftedCosine', 'width': 0.5}}
    """
    if isinstance(value, _Hypers):
        return value.to_dict()
    if not isinstance(value, dict):
        raise TypeError(
            f"`{argument}` must be a dict or a calculators.hypers object, found "
            f"{type(value).__name__}"
        )
    return {key: as_hypers_dict(item, f"{argument}.{key}") if isinstance(item, (_Hypers, dict))
            else item for key, item in value.items()}
