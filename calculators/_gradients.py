"""Validation of the ``gradients`` argument shared by every calculator's ``compute``."""

from typing import List, Sequence


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
