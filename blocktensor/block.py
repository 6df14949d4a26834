"""TensorBlock: one dense array with labelled samples, components and properties, and the
gradient blocks of these values with respect to parameters (positions, strain, ...)."""


from . import _backend
from .labels import Labels


def _check_labels(labels, argument):
    if not isinstance(labels, Labels):
        raise TypeError(f"`{argument}` must be Labels, got {type(labels).__name__}")
    if labels.is_view():
        # a view may repeat rows; blocks need unique metadata
        labels = labels.to_owned()
    return labels


def _shape_string(shape):
    return "(" + ", ".join(str(s) for s in shape) + ")"


class TensorBlock:
    """Values of shape ``(samples, *components, properties)`` with their metadata.

    Gradients of the values with respect to a parameter are blocks of their own, attached
    with :py:meth:`add_gradient`: their samples start with ``"sample"`` (the row of this
    block they differentiate), their components are the gradient's own components followed by
    this block's components, and their properties are this block's properties.

    Parameters
    ----------
    values:
        a :class:`numpy.ndarray` or :class:`torch.Tensor` (any dtype and device) with one
        axis for the samples, one per component and one for the properties.
    samples:
        :class:`Labels` describing the rows (first axis).
    components:
        list of :class:`Labels`, each with a single dimension, one per middle axis.
    properties:
        :class:`Labels` describing the last axis.

    Examples
    --------
    >>> import numpy as np
    >>> from blocktensor import Labels, TensorBlock
    >>> block = TensorBlock(
    ...     values=np.zeros((2, 3, 4)),
    ...     samples=Labels(["system", "atom"], [[0, 0], [0, 1]]),
    ...     components=[Labels.range("o3_mu", 3)],
    ...     properties=Labels.range("n", 4),
    ... )
    >>> block.shape
    (2, 3, 4)
    >>> gradient = TensorBlock(
    ...     values=np.ones((1, 3, 3, 4)),
    ...     samples=Labels(["sample", "system", "atom"], [[1, 0, 0]]),
    ...     components=[Labels.range("xyz", 3), Labels.range("o3_mu", 3)],
    ...     properties=Labels.range("n", 4),
    ... )
    >>> block.add_gradient("positions", gradient)
    >>> block.gradients_list()
    ['positions']
    """

    def __init__(self, values, samples, components, properties):
        if not _backend.is_array(values):
            raise TypeError(
                "`values` must be a numpy.ndarray or a torch.Tensor, got "
                f"{type(values).__name__}"
            )
        samples = _check_labels(samples, "samples")
        properties = _check_labels(properties, "properties")
        if not isinstance(components, (list, tuple)):
            raise TypeError(
                f"`components` must be a list of Labels, got {type(components).__name__}"
            )
        components = [_check_labels(c, f"components[{i}]") for i, c in enumerate(components)]
        for i, component in enumerate(components):
            if len(component.names) != 1:
                raise ValueError(
                    f"`components[{i}]` must have a single dimension, got names "
                    f"{component.names}"
                )
        all_names = [c.names[0] for c in components]
        if len(set(all_names)) != len(all_names):
            raise ValueError(f"`components` names must be unique, got {all_names}")

        expected = (len(samples), *[len(c) for c in components], len(properties))
        if tuple(values.shape) != expected:
            raise ValueError(
                f"`values` shape {_shape_string(values.shape)} does not match the metadata: "
                f"expected {_shape_string(expected)} from {len(samples)} samples, "
                f"components {[len(c) for c in components]} and {len(properties)} properties"
            )
        self._values = values
        self._samples = samples
        self._components = components
        self._properties = properties
        self._gradients = {}
        self._is_gradient = False

    @classmethod
    def _unchecked(cls, values, samples, components, properties):
        """Internal fast path for metadata already known consistent."""
        block = cls.__new__(cls)
        block._values = values
        block._samples = samples
        block._components = list(components)
        block._properties = properties
        block._gradients = {}
        block._is_gradient = False
        return block

    # ------------------------------------------------------------------ data
    @property
    def values(self):
        """The values array (numpy or torch)."""
        return self._values

    @property
    def samples(self):
        return self._samples

    @property
    def components(self):
        """The list of component Labels (a copy of the list, the Labels are immutable)."""
        return list(self._components)

    @property
    def properties(self):
        return self._properties

    @property
    def shape(self):
        return tuple(self._values.shape)

    @property
    def dtype(self):
        return self._values.dtype

    @property
    def device(self):
        return _backend.device_of(self._values)

    @property
    def array_backend(self):
        """``"numpy"`` or ``"torch"``."""
        return _backend.backend_name(self._values)

    # ------------------------------------------------------------------ gradients
    def add_gradient(self, parameter, gradient):
        """Attach ``gradient`` (a TensorBlock) as the gradient with respect to ``parameter``.

        Checks: the gradient's first sample dimension is ``"sample"`` and every value points
        to a row of this block; its components end with this block's components; its
        properties equal this block's; same array backend and device; no gradient of a
        gradient.
        """
        if not isinstance(parameter, str):
            raise TypeError(f"`parameter` must be a string, got {type(parameter).__name__}")
        if not isinstance(gradient, TensorBlock):
            raise TypeError(f"`gradient` must be a TensorBlock, got {type(gradient).__name__}")
        if self._is_gradient:
            raise ValueError("can not add gradients to a gradient block (no gradients of gradients)")
        if len(gradient._gradients) != 0:
            raise ValueError(
                f"the gradient with respect to {parameter!r} has gradients of its own, "
                "gradients of gradients are not supported"
            )
        if parameter in self._gradients:
            raise ValueError(f"this block already has a gradient with respect to {parameter!r}")
        if _backend.backend_name(gradient._values) != _backend.backend_name(self._values):
            raise TypeError(
                f"the gradient with respect to {parameter!r} uses "
                f"{_backend.backend_name(gradient._values)} arrays but the block uses "
                f"{_backend.backend_name(self._values)}: one block uses one backend"
            )
        if str(gradient.device) != str(self.device):
            raise ValueError(
                f"the gradient with respect to {parameter!r} is on device {gradient.device} "
                f"but the block is on {self.device}"
            )
        if gradient._values.dtype != self._values.dtype:
            raise TypeError(
                f"the gradient with respect to {parameter!r} has dtype "
                f"{gradient._values.dtype} but the block has {self._values.dtype}"
            )
        names = gradient._samples.names
        if len(names) == 0 or names[0] != "sample":
            raise ValueError(
                f"the first sample dimension of the gradient with respect to {parameter!r} "
                f"must be 'sample', got {names}"
            )
        sample_column = gradient._samples.column("sample")
        if len(sample_column) != 0:
            low, high = int(sample_column.min()), int(sample_column.max())
            if low < 0 or high >= len(self._samples):
                bad = low if low < 0 else high
                raise ValueError(
                    f"the gradient with respect to {parameter!r} has a 'sample' value {bad} "
                    f"which is not a row of the parent block ({len(self._samples)} samples)"
                )
        n_own = len(gradient._components) - len(self._components)
        if n_own < 0 or any(
            g != p for g, p in zip(gradient._components[n_own:], self._components)
        ):
            raise ValueError(
                f"the components of the gradient with respect to {parameter!r} "
                f"({[c.names[0] for c in gradient._components]}) must end with the components "
                f"of the block ({[c.names[0] for c in self._components]})"
            )
        if gradient._properties != self._properties:
            raise ValueError(
                f"the properties of the gradient with respect to {parameter!r} must be the "
                f"same as the properties of the block"
            )
        gradient._is_gradient = True
        self._gradients[parameter] = gradient

    def _add_gradient_unchecked(self, parameter, gradient):
        """Internal fast path of :meth:`add_gradient` for gradients built consistent with
        this block (calculators make hundreds of blocks per call)."""
        gradient._is_gradient = True
        self._gradients[parameter] = gradient

    def gradient(self, parameter):
        """The gradient block with respect to ``parameter``."""
        try:
            return self._gradients[parameter]
        except KeyError:
            raise ValueError(
                f"this block has no gradient with respect to {parameter!r}, "
                f"available: {sorted(self._gradients)}"
            ) from None

    def gradients_list(self):
        """Names of the parameters this block has gradients for."""
        return list(self._gradients)

    def gradients(self):
        """Iterator over ``(parameter, gradient_block)``."""
        return iter(list(self._gradients.items()))

    def has_gradient(self, parameter):
        return parameter in self._gradients

    # ------------------------------------------------------------------ conversions
    def copy(self):
        """A deep copy (values and gradients copied; torch autograd graph kept)."""
        values = self._values.clone() if _backend.is_torch(self._values) else self._values.copy()
        block = TensorBlock._unchecked(values, self._samples, self._components, self._properties)
        for parameter, gradient in self._gradients.items():
            copied = gradient.copy()
            copied._is_gradient = True
            block._gradients[parameter] = copied
        block._is_gradient = self._is_gradient
        return block

    def to(self, device=None, dtype=None, arrays=None):
        """This block (and its gradients) with values converted to the ``arrays`` backend
        (``"numpy"`` or ``"torch"``; default: unchanged), on ``device``, with ``dtype``."""
        if arrays is None:
            arrays = _backend.backend_name(self._values)
        values = _backend.convert(self._values, arrays, device=device, dtype=dtype)
        block = TensorBlock._unchecked(values, self._samples, self._components, self._properties)
        for parameter, gradient in self._gradients.items():
            converted = gradient.to(device=device, dtype=dtype, arrays=arrays)
            converted._is_gradient = True
            block._gradients[parameter] = converted
        block._is_gradient = self._is_gradient
        return block

    # ------------------------------------------------------------------ printing / pickling
    def __reduce__(self):
        return (
            _rebuild_block,
            (self._values, self._samples, self._components, self._properties,
             self._gradients, self._is_gradient),
        )

    def __repr__(self):
        return self._describe(gradient_parameter=None)

    def _describe(self, gradient_parameter):
        components = ", ".join(c.names[0] for c in self._components)
        header = "Gradient TensorBlock" if gradient_parameter else "TensorBlock"
        lines = [
            header + (f" ('{gradient_parameter}')" if gradient_parameter else ""),
            f"    samples ({len(self._samples)}): {self._samples.names}",
            f"    components ({', '.join(str(len(c)) for c in self._components)}): "
            f"[{components}]",
            f"    properties ({len(self._properties)}): {self._properties.names}",
            f"    values: {_backend.backend_name(self._values)} {self._values.dtype} on "
            f"{self.device}",
        ]
        if not self._is_gradient:
            gradients = ", ".join(f"'{p}'" for p in self._gradients)
            lines.append(f"    gradients: {'[' + gradients + ']' if gradients else 'None'}")
        return "\n".join(lines)


def _rebuild_block(values, samples, components, properties, gradients, is_gradient):
    block = TensorBlock._unchecked(values, samples, components, properties)
    block._gradients = dict(gradients)
    block._is_gradient = is_gradient
    return block
