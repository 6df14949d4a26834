"""Labels: the metadata of every axis of a :class:`~blocktensor.TensorBlock` and of the keys of
a :class:`~blocktensor.TensorMap`.

A :class:`Labels` is an ordered list of dimension ``names`` together with a 2-D ``int32`` array
of ``values`` whose rows are unique. It is immutable. Lookups of one entry or of many entries at
once are vectorised: rows are packed into one ``int64`` key per row (when the ranges of the
columns allow it, which is the case for every realistic metadata) and searched in a sorted copy
of the keys built on first use.
"""

import keyword

import numpy as np
import torch

_INT32_MIN = np.iinfo(np.int32).min
_INT32_MAX = np.iinfo(np.int32).max


def _check_names(names, argument="names"):
    if isinstance(names, str):
        names = [names] if len(names) != 0 else []
    elif isinstance(names, (list, tuple)):
        names = list(names)
    else:
        raise TypeError(
            f"`{argument}` must be a string or a list of strings, got {type(names).__name__}"
        )
    for name in names:
        if not isinstance(name, str):
            raise TypeError(
                f"`{argument}` must contain strings, got {type(name).__name__} ({name!r})"
            )
        if not name.isidentifier() or keyword.iskeyword(name):
            raise ValueError(
                f"`{argument}`: {name!r} is not a valid dimension name, names must be valid "
                "Python identifiers"
            )
    seen = set()
    for name in names:
        if name in seen:
            raise ValueError(f"`{argument}`: the name {name!r} appears more than once")
        seen.add(name)
    return names


def _check_values(values, n_names, argument="values"):
    """Convert ``values`` to a C-contiguous int32 2-D numpy array, refusing anything that is
    not integer or does not fit in int32 (never wrap silently)."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    values = np.asarray(values)
    if values.size == 0:
        values = values.reshape(-1, n_names) if values.ndim == 2 else values.reshape(0, n_names)
    if values.ndim == 1 and n_names == 1 and values.size != 0:
        values = values.reshape(-1, 1)
    if values.ndim != 2:
        raise ValueError(
            f"`{argument}` must be a 2-D array, got an array with shape {values.shape}"
        )
    if values.shape[1] != n_names:
        raise ValueError(
            f"`{argument}` must have one column per name: expected {n_names} columns, "
            f"got shape {values.shape}"
        )
    if values.dtype == np.int32:
        return np.ascontiguousarray(values)
    if values.dtype.kind == "b" or values.dtype.kind not in "iu":
        if values.dtype.kind == "f" and values.size != 0:
            as_int = values.astype(np.int64)
            if not np.all(as_int == values):
                raise TypeError(
                    f"`{argument}` must contain integers, got non-integer values of dtype "
                    f"{values.dtype}"
                )
            values = as_int
        elif values.size != 0 or values.dtype.kind not in "fO":
            raise TypeError(f"`{argument}` must contain integers, got dtype {values.dtype}")
        else:
            values = values.astype(np.int64)
    if values.size != 0:
        low = values.min()
        high = values.max()
        if low < _INT32_MIN or high > _INT32_MAX:
            bad = low if low < _INT32_MIN else high
            raise ValueError(
                f"`{argument}` must fit in int32, got the value {int(bad)} which would be "
                "wrapped; Labels values are 32-bit integers"
            )
    return np.ascontiguousarray(values, dtype=np.int32)


class _RowIndex:
    """Packed int64 keys of the rows of a 2-D int32 array, for vectorised lookups.

    Each column is shifted by its minimum and multiplied by a stride so that a row maps to
    ``sum((column - min) * stride)``. When the product of the column spans does not fit in
    int64, rows are compared as raw bytes instead (slower, never wrong).
    """

    __slots__ = ("minimums", "spans", "strides", "packed", "keys", "order", "sorted_keys")

    def __init__(self, values):
        n_rows, n_columns = values.shape
        if n_rows == 0 or n_columns == 0:
            self.minimums = np.zeros(n_columns, dtype=np.int64)
            self.spans = np.ones(n_columns, dtype=np.int64)
        else:
            self.minimums = values.min(axis=0).astype(np.int64)
            self.spans = values.max(axis=0).astype(np.int64) - self.minimums + 1
        total = 1
        for span in self.spans.tolist():
            total *= int(span)
        self.packed = total < 2**62
        if self.packed:
            strides = np.ones(n_columns, dtype=np.int64)
            for column in range(n_columns - 2, -1, -1):
                strides[column] = strides[column + 1] * self.spans[column + 1]
            self.strides = strides
        else:
            self.strides = None
        self.keys = self._keys(values, check_range=False)[0]
        self.order = None
        self.sorted_keys = None

    def _keys(self, values, check_range):
        """Keys of ``values`` rows; with ``check_range`` also a mask of rows that lie inside
        the packed range (rows outside it cannot be present)."""
        values = np.ascontiguousarray(values)
        if not self.packed:
            as_void = np.ascontiguousarray(values.astype(np.int32, copy=False)).view(
                np.dtype((np.void, 4 * values.shape[1]))
            ).ravel()
            return as_void, None
        if values.shape[1] == 0:
            return np.zeros(values.shape[0], dtype=np.int64), None
        shifted = values.astype(np.int64) - self.minimums
        inside = None
        if check_range:
            inside = np.all((shifted >= 0) & (shifted < self.spans), axis=1)
        keys = shifted @ self.strides if values.shape[1] > 1 else shifted[:, 0] * 1
        return keys, inside

    def sort(self):
        if self.order is None:
            self.order = np.argsort(self.keys, kind="stable")
            self.sorted_keys = self.keys[self.order]

    def lookup(self, values):
        """Row index of each row of ``values`` (int64 array, -1 where absent)."""
        n_queries = values.shape[0]
        result = np.full(n_queries, -1, dtype=np.int64)
        if n_queries == 0 or len(self.keys) == 0:
            return result
        self.sort()
        keys, inside = self._keys(values, check_range=True)
        found = np.searchsorted(self.sorted_keys, keys)
        found = np.minimum(found, len(self.sorted_keys) - 1)
        match = self.sorted_keys[found] == keys
        if inside is not None:
            match &= inside
        result[match] = self.order[found[match]]
        return result


def _first_duplicate(values, index=None):
    """``None`` if all rows are unique, else ``(row, first_row_index, second_row_index)``."""
    if values.shape[0] < 2:
        return None
    if index is None:
        index = _RowIndex(values)
    keys = index.keys
    n_rows = values.shape[0]
    if index.packed:
        total = int(np.prod(index.spans, dtype=np.float64))
        if total <= max(16 * n_rows, 1 << 16):
            # dense key range: counting is O(n) instead of an O(n log n) sort
            counts = np.bincount(keys, minlength=total)
            if counts.max(initial=0) < 2:
                return None
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    same = sorted_keys[1:] == sorted_keys[:-1]
    if not same.any():
        # the sort is what a later lookup needs: keep it
        index.order = order
        index.sorted_keys = sorted_keys
        return None
    # report the earliest second occurrence in row order
    positions = np.nonzero(same)[0]
    second = order[positions + 1]
    first = order[positions]
    which = np.argmin(second)
    a, b = int(first[which]), int(second[which])
    return tuple(int(v) for v in values[b]), min(a, b), max(a, b)


def unique_rows(values):
    """Lexicographically sorted unique rows of a 2-D integer array (values that fit in
    int32, like all metadata), and for every input row the position of its value in the
    result. Rows are packed into one int64 key when the column ranges allow it, which turns
    the row sort into a sort of integers.

    >>> import numpy as np
    >>> unique, inverse = unique_rows(np.array([[1, 0], [0, 2], [1, 0]]))
    >>> unique.tolist(), inverse.tolist()
    ([[0, 2], [1, 0]], [1, 0, 1])
    """
    values = np.ascontiguousarray(values, dtype=np.int32)
    if values.shape[0] == 0:
        return values, np.zeros(0, dtype=np.int64)
    index = _RowIndex(values)
    if index.packed:
        _, first, inverse = np.unique(index.keys, return_index=True, return_inverse=True)
        unique = values[first]
    else:
        unique, inverse = np.unique(values, axis=0, return_inverse=True)
    return unique, inverse.reshape(-1).astype(np.int64)


class LabelsEntry:
    """One row of a :class:`Labels`: values accessible by position or by dimension name.

    >>> from blocktensor import Labels
    >>> entry = Labels(["system", "atom"], [[0, 3]])[0]
    >>> entry["atom"]
    3
    >>> entry.names, tuple(entry)
    (['system', 'atom'], (0, 3))
    """

    __slots__ = ("_names", "_values")

    def __init__(self, names, values):
        self._names = names
        self._values = values

    @property
    def names(self):
        """The dimension names of this entry."""
        return list(self._names)

    @property
    def values(self):
        """The values of this entry, a 1-D int32 numpy array."""
        return self._values

    def __len__(self):
        return len(self._values)

    def __iter__(self):
        return iter(int(v) for v in self._values)

    def __getitem__(self, dimension):
        if isinstance(dimension, str):
            try:
                return int(self._values[self._names.index(dimension)])
            except ValueError:
                raise ValueError(
                    f"no dimension named {dimension!r} in this entry, "
                    f"the names are {self._names}"
                ) from None
        return int(self._values[dimension])

    def as_dict(self):
        return {name: int(value) for name, value in zip(self._names, self._values)}

    def __eq__(self, other):
        if isinstance(other, LabelsEntry):
            return self._names == other._names and np.array_equal(self._values, other._values)
        if isinstance(other, (tuple, list)):
            return tuple(self) == tuple(other)
        return NotImplemented

    def __hash__(self):
        return hash((tuple(self._names), tuple(self)))

    def __repr__(self):
        inner = ", ".join(f"{n}={int(v)}" for n, v in zip(self._names, self._values))
        return f"LabelsEntry({inner})"

    def print(self):
        return "(" + ", ".join(str(int(v)) for v in self._values) + ")"


class Labels:
    """Named, unique, integer metadata for one axis of a block or for the keys of a map.

    Parameters
    ----------
    names:
        dimension names, valid Python identifiers, all different. A single string is a
        single dimension.
    values:
        2-D array-like of integers with one column per name. Values must fit in ``int32``
        (they are never wrapped) and rows must be unique.
    assume_unique:
        skip the uniqueness check, for callers that already know the rows are unique.

    Examples
    --------
    >>> import numpy as np
    >>> from blocktensor import Labels
    >>> labels = Labels(["system", "atom"], np.array([[0, 0], [0, 1], [1, 0]]))
    >>> len(labels), labels.names
    (3, ['system', 'atom'])
    >>> labels.position((0, 1))
    1
    >>> labels.positions(np.array([[1, 0], [5, 5]])).tolist()
    [2, -1]
    >>> labels["atom"].tolist()
    [0, 1, 0]
    """

    __slots__ = ("_names", "_values", "_index", "_torch_cache", "_is_view", "__weakref__")

    def __init__(self, names, values, assume_unique=False):
        names = _check_names(names)
        values = _check_values(values, len(names))
        index = None
        if not assume_unique:
            index = _RowIndex(values)
            duplicate = _first_duplicate(values, index)
            if duplicate is not None:
                row, first, second = duplicate
                raise ValueError(
                    f"invalid Labels: the entry {row} for names {names} is duplicated "
                    f"at rows {first} and {second}"
                )
        self._init(names, values, is_view=False)
        self._index = index

    def _init(self, names, values, is_view):
        values.flags.writeable = False
        self._names = names
        self._values = values
        self._index = None
        self._torch_cache = {}
        self._is_view = is_view

    @classmethod
    def _unchecked(cls, names, values, is_view=False):
        """Internal fast path: ``names`` already checked, ``values`` an int32 C-contiguous
        array of rows known to be unique (or ``is_view``)."""
        labels = cls.__new__(cls)
        values = np.ascontiguousarray(values, dtype=np.int32)
        if values.ndim != 2:
            values = values.reshape(-1, len(names))
        labels._init(list(names), values, is_view)
        return labels

    # ------------------------------------------------------------------ constructors
    @classmethod
    def single(cls):
        """The Labels used when there is only one entry: ``_ = [[0]]``.

        >>> Labels.single().names
        ['_']
        """
        return cls._unchecked(["_"], np.zeros((1, 1), dtype=np.int32))

    @classmethod
    def range(cls, name, end):
        """One dimension ``name`` with values ``0 .. end - 1``.

        >>> Labels.range("n", 3)["n"].tolist()
        [0, 1, 2]
        """
        names = _check_names([name], "name")
        if not isinstance(end, (int, np.integer)) or end < 0:
            raise ValueError(f"`end` must be a non-negative integer, got {end!r}")
        if end > _INT32_MAX:
            raise ValueError(f"`end` must fit in int32, got {end}")
        return cls._unchecked(names, np.arange(end, dtype=np.int32).reshape(-1, 1))

    @classmethod
    def empty(cls, names):
        """Labels with the given ``names`` and no entries.

        >>> len(Labels.empty(["system", "atom"]))
        0
        """
        names = _check_names(names)
        return cls._unchecked(names, np.zeros((0, len(names)), dtype=np.int32))

    # ------------------------------------------------------------------ basic access
    @property
    def names(self):
        """The dimension names, as a list of strings."""
        return list(self._names)

    @property
    def values(self):
        """The values, a read-only ``(len(self), len(self.names))`` int32 numpy array."""
        return self._values

    def torch_values(self, device=None):
        """The values as a torch int32 tensor on ``device`` (cached per device)."""
        device = torch.device("cpu") if device is None else torch.device(device)
        key = str(device)
        cached = self._torch_cache.get(key)
        if cached is None:
            cached = torch.from_numpy(self._values.copy()).to(device)
            self._torch_cache[key] = cached
        return cached

    def __len__(self):
        return self._values.shape[0]

    def __iter__(self):
        for row in self._values:
            yield LabelsEntry(self._names, row)

    def entry(self, index):
        return LabelsEntry(self._names, self._values[index])

    def __getitem__(self, index):
        if isinstance(index, str):
            return self.column(index)
        if isinstance(index, (int, np.integer)):
            n = len(self)
            if index < -n or index >= n:
                raise IndexError(f"index {index} is out of bounds for Labels of length {n}")
            return LabelsEntry(self._names, self._values[index])
        if isinstance(index, slice):
            return Labels._unchecked(self._names, self._values[index], self._is_view)
        index = np.asarray(index)
        if index.dtype == np.bool_:
            return Labels._unchecked(self._names, self._values[index], self._is_view)
        if index.dtype.kind in "iu":
            selected = self._values[index]
            if not self._is_view and len(np.unique(index)) != len(index):
                return Labels._unchecked(self._names, selected, is_view=True)
            return Labels._unchecked(self._names, selected, self._is_view)
        raise TypeError(
            f"Labels can be indexed by an integer, a slice, an integer/boolean array or a "
            f"dimension name, got {type(index).__name__}"
        )

    def column(self, dimension):
        """The values of one dimension as a 1-D int32 numpy array."""
        try:
            i = self._names.index(dimension)
        except ValueError:
            raise ValueError(
                f"no dimension named {dimension!r} in these Labels, the names are {self._names}"
            ) from None
        return self._values[:, i]

    def view(self, dimensions):
        """The columns ``dimensions`` (a name or list of names) as a Labels.

        The rows of a view can repeat: it is meant for reading values. Use
        :py:meth:`to_owned` to turn it into regular (checked unique) Labels.

        >>> labels = Labels(["a", "b"], [[0, 1], [0, 2]])
        >>> labels.view("a").values.tolist()
        [[0], [0]]
        """
        dimensions = _check_names(dimensions, "dimensions")
        columns = []
        for dimension in dimensions:
            if dimension not in self._names:
                raise ValueError(
                    f"no dimension named {dimension!r} in these Labels, the names are "
                    f"{self._names}"
                )
            columns.append(self._names.index(dimension))
        if columns == list(range(len(self._names))):
            return self
        return Labels._unchecked(
            dimensions, self._values[:, columns], is_view=True
        )

    def is_view(self):
        """Whether these Labels come from :py:meth:`view` and may contain repeated rows."""
        return self._is_view

    def to_owned(self):
        """Check uniqueness of a view and return regular Labels."""
        if not self._is_view:
            return self
        return Labels(self._names, self._values)

    def unique(self):
        """Unique rows of these (possibly view) Labels, sorted, with the inverse mapping.

        Returns ``(labels, inverse)`` such that ``labels.values[inverse] == self.values``.
        """
        values, inverse = unique_rows(self._values)
        return Labels._unchecked(self._names, values), inverse

    # ------------------------------------------------------------------ lookup
    def _row_index(self):
        if self._index is None:
            self._index = _RowIndex(self._values)
        return self._index

    def _query_values(self, entries, argument):
        if isinstance(entries, Labels):
            if entries._names != self._names:
                if sorted(entries._names) == sorted(self._names):
                    return entries._values[:, [entries._names.index(n) for n in self._names]]
                raise ValueError(
                    f"`{argument}` names {entries._names} do not match these Labels' names "
                    f"{self._names}"
                )
            return entries._values
        if isinstance(entries, torch.Tensor):
            entries = entries.detach().cpu().numpy()
        entries = np.asarray(entries)
        if entries.ndim == 1 and len(self._names) == 1:
            entries = entries.reshape(-1, 1)
        if entries.ndim != 2 or entries.shape[1] != len(self._names):
            raise ValueError(
                f"`{argument}` must be Labels or a 2-D array with {len(self._names)} columns, "
                f"got shape {entries.shape}"
            )
        if entries.dtype.kind not in "iu":
            if entries.size != 0:
                raise TypeError(f"`{argument}` must contain integers, got dtype {entries.dtype}")
        return entries

    def _check_lookup(self):
        if self._is_view:
            raise ValueError(
                "can not look up entries in a Labels view (rows may repeat); "
                "call `to_owned()` first"
            )

    def positions(self, entries):
        """Row index of each entry of ``entries`` (Labels with the same names, or a 2-D integer
        array), as an int64 numpy array with ``-1`` for entries that are not present.

        Vectorised: 100,000 queries take milliseconds.
        """
        self._check_lookup()
        entries = self._query_values(entries, "entries")
        if entries.shape[0] == 0:
            return np.zeros(0, dtype=np.int64)
        return self._row_index().lookup(entries)

    def position(self, entry):
        """Row index of one ``entry`` (LabelsEntry, tuple or 1-D array), or ``None``."""
        self._check_lookup()
        if isinstance(entry, LabelsEntry):
            if entry._names != self._names:
                raise ValueError(
                    f"`entry` names {entry._names} do not match these Labels' names "
                    f"{self._names}"
                )
            values = entry._values
        else:
            values = np.asarray(entry)
            if values.ndim == 0:
                values = values.reshape(1)
        if values.shape != (len(self._names),):
            raise ValueError(
                f"`entry` must have {len(self._names)} values, got {tuple(values.tolist())}"
            )
        found = self._row_index().lookup(values.reshape(1, -1))[0]
        return None if found < 0 else int(found)

    def __contains__(self, entry):
        try:
            return self.position(entry) is not None
        except ValueError:
            return False

    # ------------------------------------------------------------------ comparisons
    def __eq__(self, other):
        if not isinstance(other, Labels):
            return NotImplemented
        return self._names == other._names and np.array_equal(self._values, other._values)

    def __ne__(self, other):
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    __hash__ = None

    def _check_same_names(self, other, operation):
        if not isinstance(other, Labels):
            raise TypeError(f"`other` must be Labels, got {type(other).__name__}")
        if other._names != self._names:
            raise ValueError(
                f"can not compute the {operation} of Labels with different names: "
                f"{self._names} and {other._names}"
            )
        self._check_lookup()
        other._check_lookup()

    # ------------------------------------------------------------------ set operations
    def union_and_mapping(self, other):
        """Union (entries of ``self`` first, then new entries of ``other`` in their order),
        with the position of every entry of ``self`` and of ``other`` in the union.

        >>> a = Labels("n", [[0], [1]]); b = Labels("n", [[1], [2]])
        >>> union, first, second = a.union_and_mapping(b)
        >>> union["n"].tolist(), first.tolist(), second.tolist()
        ([0, 1, 2], [0, 1], [1, 2])
        """
        self._check_same_names(other, "union")
        in_self = self.positions(other._values)
        new = in_self < 0
        values = np.concatenate([self._values, other._values[new]], axis=0)
        first = np.arange(len(self), dtype=np.int64)
        second = in_self.copy()
        second[new] = len(self) + np.arange(int(new.sum()), dtype=np.int64)
        return Labels._unchecked(self._names, values), first, second

    def union(self, other):
        """Union of two Labels with the same names (see :py:meth:`union_and_mapping`)."""
        return self.union_and_mapping(other)[0]

    def intersection_and_mapping(self, other):
        """Intersection (in the order of ``self``) with, for every entry of ``self`` and of
        ``other``, its position in the intersection or ``-1``."""
        self._check_same_names(other, "intersection")
        in_other = other.positions(self._values)
        common = in_other >= 0
        values = self._values[common]
        first = np.full(len(self), -1, dtype=np.int64)
        first[common] = np.arange(int(common.sum()), dtype=np.int64)
        second = np.full(len(other), -1, dtype=np.int64)
        second[in_other[common]] = first[common]
        return Labels._unchecked(self._names, values), first, second

    def intersection(self, other):
        """Entries present in both Labels, in the order of ``self``."""
        return self.intersection_and_mapping(other)[0]

    def difference_and_mapping(self, other):
        """Entries of ``self`` absent from ``other`` (in the order of ``self``), with the
        position of each entry of ``self`` in the result or ``-1``."""
        self._check_same_names(other, "difference")
        in_other = other.positions(self._values)
        keep = in_other < 0
        mapping = np.full(len(self), -1, dtype=np.int64)
        mapping[keep] = np.arange(int(keep.sum()), dtype=np.int64)
        return Labels._unchecked(self._names, self._values[keep]), mapping

    def difference(self, other):
        """Entries of ``self`` absent from ``other``."""
        return self.difference_and_mapping(other)[0]

    def select(self, selection):
        """Indices of the rows matching ``selection``: Labels (or a LabelsEntry) over a subset
        of the names; a row matches when its values on those names equal any selection entry.

        >>> labels = Labels(["system", "atom"], [[0, 0], [0, 1], [1, 0]])
        >>> labels.select(Labels(["system"], [[0]])).tolist()
        [0, 1]
        """
        if isinstance(selection, LabelsEntry):
            selection = Labels._unchecked(selection._names, selection._values.reshape(1, -1))
        if not isinstance(selection, Labels):
            raise TypeError(
                f"`selection` must be Labels or a LabelsEntry, got {type(selection).__name__}"
            )
        for name in selection._names:
            if name not in self._names:
                raise ValueError(
                    f"`selection` uses the dimension {name!r} which is not one of these "
                    f"Labels' names {self._names}"
                )
        if len(selection._names) == 0:
            return np.arange(len(self), dtype=np.int64)
        projected = self.view(selection._names).values
        index = _RowIndex(np.ascontiguousarray(selection._values))
        return np.nonzero(index.lookup(projected) >= 0)[0].astype(np.int64)

    # ------------------------------------------------------------------ dimensions
    def _new_column(self, values, argument="values"):
        column = _check_values(np.asarray(values).reshape(-1, 1), 1, argument)[:, 0]
        if column.shape[0] != len(self):
            raise ValueError(
                f"`{argument}` must have one value per entry: expected {len(self)}, "
                f"got {column.shape[0]}"
            )
        return column

    def insert(self, index, name, values):
        """New Labels with the dimension ``name`` (``values``, one per entry) at ``index``."""
        names = _check_names(self._names[:index] + [name] + self._names[index:])
        column = self._new_column(values)
        new = np.insert(self._values, index, column, axis=1) if len(self._names) else column[:, None]
        return Labels._unchecked(names, new, self._is_view)

    def append(self, name, values):
        """New Labels with the dimension ``name`` added last."""
        return self.insert(len(self._names), name, values)

    def remove(self, name):
        """New Labels without the dimension ``name``; an error if rows become duplicated."""
        if name not in self._names:
            raise ValueError(
                f"can not remove the dimension {name!r}: it is not one of {self._names}"
            )
        keep = [n for n in self._names if n != name]
        values = self._values[:, [self._names.index(n) for n in keep]]
        if self._is_view:
            return Labels._unchecked(keep, values, True)
        return Labels(keep, values)

    def rename(self, old, new):
        """New Labels with the dimension ``old`` called ``new``."""
        if old not in self._names:
            raise ValueError(
                f"can not rename the dimension {old!r}: it is not one of {self._names}"
            )
        names = [new if n == old else n for n in self._names]
        names = _check_names(names)
        return Labels._unchecked(names, self._values, self._is_view)

    def permute(self, dimensions_indexes):
        """New Labels with the dimensions reordered: ``new[i] = old[dimensions_indexes[i]]``."""
        order = list(dimensions_indexes)
        if sorted(order) != list(range(len(self._names))):
            raise ValueError(
                f"`dimensions_indexes` must be a permutation of 0..{len(self._names) - 1}, "
                f"got {order}"
            )
        return Labels._unchecked(
            [self._names[i] for i in order], self._values[:, order], self._is_view
        )

    # ------------------------------------------------------------------ misc
    def __reduce__(self):
        return (_rebuild_labels, (self._names, np.array(self._values), self._is_view))

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def print(self, max_entries=20, indent=0):
        """A readable table of the entries (at most ``max_entries``, ``-1`` for all)."""
        width = [max(len(n), 1) for n in self._names]
        n = len(self)
        if n != 0 and len(self._names) != 0:
            width = [
                max(w, len(str(self._values[:, i].min())), len(str(self._values[:, i].max())))
                for i, w in enumerate(width)
            ]
        header = " ".join(name.rjust(w) for name, w in zip(self._names, width))
        lines = [header]
        if max_entries < 0 or n <= max_entries:
            rows = range(n)
            skipped = None
        else:
            half = max(max_entries // 2, 1)
            rows = list(range(half)) + list(range(n - half, n))
            skipped = half
        for count, row in enumerate(rows):
            if skipped is not None and count == skipped:
                lines.append("...".center(len(header)))
            lines.append(
                " ".join(str(int(v)).rjust(w) for v, w in zip(self._values[row], width))
            )
        pad = " " * indent
        return ("\n" + pad).join(lines)

    def __str__(self):
        return f"Labels(\n    {self.print(max_entries=8, indent=4)}\n)"

    def __repr__(self):
        return f"Labels(names={self._names}, {len(self)} entries)"


def _rebuild_labels(names, values, is_view):
    return Labels._unchecked(names, values, is_view)
