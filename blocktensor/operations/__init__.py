"""Operations on TensorMaps: pure functions, one family per module, working identically on
numpy and torch values, with gradient blocks carried through."""

# Re-exports only. Each operation module defines __all__.
# --- math, reductions, creation, checks, torch helpers (helper A) ---
# --- structure, dimensions (helper B) ---
