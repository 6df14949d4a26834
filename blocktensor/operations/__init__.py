"""Operations on TensorMaps: pure functions, one family per module, working identically on
numpy and torch values, with gradient blocks carried through."""

# Re-exports only. Each operation module defines __all__.
# --- math, reductions, creation, checks, torch helpers (helper A) ---
from ._utils import NotEqualError  # noqa: F401
from .math import *  # noqa: F401,F403
from .reductions import *  # noqa: F401,F403
from .creation import *  # noqa: F401,F403
from .checks import *  # noqa: F401,F403
from .torch_ops import *  # noqa: F401,F403
# --- structure, dimensions (helper B) ---
from .join import *  # noqa: F401,F403
from .split import *  # noqa: F401,F403
from .slice import *  # noqa: F401,F403
from .blocks import *  # noqa: F401,F403
from .sort import *  # noqa: F401,F403
from .unique_metadata import *  # noqa: F401,F403
from .one_hot import *  # noqa: F401,F403
from .block_from_array import *  # noqa: F401,F403
from .dimensions import *  # noqa: F401,F403

__all__ = sorted(
    name
    for name, value in dict(globals()).items()
    if not name.startswith("_") and callable(value)
)
