"""The ``gradients`` argument of every calculator's ``compute``, and the components of
the gradient blocks they produce."""

from typing import List, Sequence

from blocktensor import Labels

# components of gradient blocks: positions (xyz); strain (xyz_2, the pair-vector
# direction, then xyz_1, the derivative direction, as featomic)
XYZ = Labels.range("xyz", 3)
XYZ_1 = Labels.range("xyz_1", 3)
XYZ_2 = Labels.range("xyz_2", 3)
# cell gradients (featomic's names): xyz, then abc; values[..., a, x] = ∂/∂cell[a, x]
ABC = Labels.range("abc", 3)


def check_gradients(gradients, supported: Sequence[str], calculator: str) -> List[str]:
    """``gradients`` (``None``, one name or a list of names) as a list, every entry one of
    ``supported``; a ``ValueError`` naming the calculator and the offending entry otherwise.
    """
    if gradients is None:
        return []
    if isinstance(gradients, str):
        gradients = [gradients]
    gradients = list(gradients)
    for parameter in gradients:
        if parameter not in supported:
            raise ValueError(
                f"`gradients` of {calculator} may contain {list(supported)}, "
                f"found {parameter!r}"
            )
    if len(set(gradients)) != len(gradients):
        raise ValueError(f"`gradients` of {calculator} lists a parameter twice: {gradients}")
    return gradients
