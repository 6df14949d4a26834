"""The ``gradients`` argument of every calculator's ``compute``, and the components of
the gradient blocks they produce."""

from typing import List, Sequence

import numpy as np

from blocktensor import Labels, TensorBlock

# components of gradient blocks: positions (xyz); strain (xyz_2, the pair-vector
# direction, then xyz_1, the derivative direction, as featomic)
XYZ = Labels.range("xyz", 3)
XYZ_1 = Labels.range("xyz_1", 3)
XYZ_2 = Labels.range("xyz_2", 3)
# cell gradients (featomic's names): xyz, then abc; values[..., a, x] = ∂/∂cell[a, x]
ABC = Labels.range("abc", 3)


def cell_deformation_gradient(parameter: str, values, properties: Labels,
                              components: Sequence[Labels] = ()) -> TensorBlock:
    """The ``strain`` or ``cell`` gradient block of ``values``, one row per sample of the
    parent block (``values[s, i, j, ...]``), with featomic's components for the parameter
    (``xyz_2, xyz_1`` or ``xyz, abc``) followed by the parent's ``components``.

    >>> import numpy as np
    >>> block = cell_deformation_gradient("cell", np.zeros((2, 3, 3, 1)), Labels.range("n", 1))
    >>> [c.names[0] for c in block.components], block.samples.names
    (['xyz', 'abc'], ['sample'])
    """
    own = [XYZ_2, XYZ_1] if parameter == "strain" else [XYZ, ABC]
    samples = Labels(["sample"], np.arange(values.shape[0], dtype=np.int32).reshape(-1, 1),
                     assume_unique=True)
    return TensorBlock(values, samples, own + list(components), properties)


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
