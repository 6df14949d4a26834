"""Descriptor calculators: atomic structures in, :class:`blocktensor.TensorMap` out."""

from .system import System, as_systems  # noqa: F401
from .neighbors import neighbor_list, neighbor_lists, batched_neighbor_list  # noqa: F401
from .neighbor_list_calculator import NeighborList  # noqa: F401
from .spherical_expansion import SphericalExpansion, SphericalExpansionByPair  # noqa: F401
from .power_spectrum import SoapPowerSpectrum, SoapRadialSpectrum  # noqa: F401
from .composition import AtomicComposition  # noqa: F401
from .sorted_distances import SortedDistances  # noqa: F401
from .equivariant_power_spectrum import EquivariantPowerSpectrum  # noqa: F401
