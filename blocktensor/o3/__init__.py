"""O(3) tools: real spherical harmonics, Clebsch–Gordan coefficients, Wigner D matrices,
rotations and Cartesian ↔ spherical tensor conversion."""

from .harmonics import (  # noqa: F401
    SphericalHarmonics,
    lm_index,
    lm_slice,
    solid_harmonics,
    spherical_harmonics,
    split_per_l,
)
from .cg_coefficients import (  # noqa: F401
    SparseClebschGordan,
    clebsch_gordan,
    clebsch_gordan_dict,
    clebsch_gordan_sparse,
    complex_clebsch_gordan,
    complex_to_real_matrix,
    real_to_complex_matrix,
)
from .rotations import (  # noqa: F401
    euler_from_rotation,
    random_rotation,
    rotate_atoms,
    rotation_from_euler,
)
from .wigner import wigner_d_from_euler, wigner_d_matrices, wigner_d_matrix  # noqa: F401
from .cartesian import cartesian_to_spherical, spherical_to_cartesian  # noqa: F401
from .rotate import (  # noqa: F401
    EquivarianceReport,
    check_equivariance,
    rotate_block,
    rotate_tensor_map,
)
from .products import ClebschGordanProduct, cg_couple_arrays  # noqa: F401
from .correlations import (  # noqa: F401
    DensityCorrelations,
    filter_redundant_keys,
    increment_numeric_suffix,
)
from .power_spectrum import EquivariantPowerSpectrum, PowerSpectrum  # noqa: F401
