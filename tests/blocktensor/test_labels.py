import pickle

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from blocktensor import Labels

rows_strategy = st.lists(
    st.tuples(st.integers(-5, 5), st.integers(-5, 5), st.integers(0, 3)), max_size=40
)


def test_construction_and_access():
    labels = Labels(["system", "atom"], [[0, 0], [0, 1], [1, 0]])
    assert labels.names == ["system", "atom"]
    assert labels.values.dtype == np.int32
    assert len(labels) == 3
    assert labels[1]["atom"] == 1
    assert labels[1].names == ["system", "atom"]
    assert tuple(labels[2]) == (1, 0)
    assert labels["atom"].tolist() == [0, 1, 0]
    assert [tuple(e) for e in labels] == [(0, 0), (0, 1), (1, 0)]
    assert labels[1:].values.tolist() == [[0, 1], [1, 0]]
    assert Labels("n", [[1], [2]]).names == ["n"]
    with pytest.raises(ValueError, match="read-only"):
        labels.values[0, 0] = 3


def test_constructors():
    assert Labels.single().values.tolist() == [[0]]
    assert Labels.range("n", 4)["n"].tolist() == [0, 1, 2, 3]
    empty = Labels.empty(["a", "b"])
    assert len(empty) == 0 and empty.names == ["a", "b"] and empty.values.shape == (0, 2)
    assert len(Labels(["a"], np.zeros((0, 1), dtype=np.int64))) == 0


def test_duplicates_are_errors():
    with pytest.raises(ValueError, match=r"entry \(0, 3\).*duplicated at rows 1 and 3"):
        Labels(["a", "b"], [[1, 1], [0, 3], [2, 2], [0, 3]])
    # skipping the check is allowed for callers who know
    Labels(["a"], [[1], [2]], assume_unique=True)


def test_bad_input():
    with pytest.raises(ValueError, match="int32"):
        Labels(["a"], [[2**31]])
    with pytest.raises(ValueError, match="int32"):
        Labels(["a"], np.array([[-(2**31) - 1]], dtype=np.int64))
    with pytest.raises(TypeError, match="integers"):
        Labels(["a"], [[0.5]])
    with pytest.raises(TypeError, match="integers"):
        Labels(["a"], np.array([["x"]]))
    with pytest.raises(ValueError, match="valid dimension name"):
        Labels(["not valid"], [[0]])
    with pytest.raises(ValueError, match="more than once"):
        Labels(["a", "a"], [[0, 0]])
    with pytest.raises(ValueError, match="expected 2 columns"):
        Labels(["a", "b"], [[0, 0, 1]])
    with pytest.raises(ValueError, match="2-D"):
        Labels(["a", "b"], np.zeros((2, 2, 2), dtype=np.int32))
    with pytest.raises(TypeError, match="names"):
        Labels(3, [[0]])


def test_position_and_contains():
    labels = Labels(["a", "b"], [[0, 1], [2, 3]])
    assert labels.position((2, 3)) == 1
    assert labels.position(labels[0]) == 0
    assert labels.position((5, 5)) is None
    assert (0, 1) in labels and (1, 0) not in labels
    assert labels.positions(np.array([[2, 3], [9, 9], [0, 1]])).tolist() == [1, -1, 0]
    assert labels.positions(Labels(["b", "a"], [[3, 2]])).tolist() == [1]
    with pytest.raises(ValueError, match="2 values"):
        labels.position((1,))
    with pytest.raises(ValueError, match="names"):
        labels.positions(Labels(["a", "c"], [[0, 1]]))


@given(rows_strategy, rows_strategy)
@settings(max_examples=60, deadline=None)
def test_positions_against_dict(rows, queries):
    rows = list(dict.fromkeys(rows))
    labels = Labels(["a", "b", "c"], np.array(rows, dtype=np.int64).reshape(-1, 3))
    lookup = {row: i for i, row in enumerate(rows)}
    query = np.array(queries, dtype=np.int64).reshape(-1, 3)
    expected = [lookup.get(tuple(q), -1) for q in query.tolist()]
    assert labels.positions(query).tolist() == expected


def test_positions_wide_values_without_packing():
    # spans too large to pack in one int64: the byte-comparison path is used
    big = 2**31 - 1
    values = np.array([[-big, big, 0, big], [big, -big, 1, 0], [0, 0, 0, 0]])
    labels = Labels(["a", "b", "c", "d"], values)
    assert labels.positions(values[::-1]).tolist() == [2, 1, 0]
    assert labels.positions(np.array([[1, 2, 3, 4]])).tolist() == [-1]
    with pytest.raises(ValueError, match="duplicated"):
        Labels(["a", "b", "c", "d"], np.concatenate([values, values[:1]]))


@given(rows_strategy, rows_strategy)
@settings(max_examples=60, deadline=None)
def test_set_operations_against_python_sets(first, second):
    first = list(dict.fromkeys(first))
    second = list(dict.fromkeys(second))
    a = Labels(["a", "b", "c"], np.array(first, dtype=np.int64).reshape(-1, 3))
    b = Labels(["a", "b", "c"], np.array(second, dtype=np.int64).reshape(-1, 3))

    union, map_a, map_b = a.union_and_mapping(b)
    expected = first + [row for row in second if row not in set(first)]
    assert [tuple(r) for r in union.values.tolist()] == expected
    assert np.array_equal(union.values[map_a], a.values)
    assert np.array_equal(union.values[map_b], b.values)

    inter, map_a, map_b = a.intersection_and_mapping(b)
    expected = [row for row in first if row in set(second)]
    assert [tuple(r) for r in inter.values.tolist()] == expected
    for i, m in enumerate(map_a):
        assert (m == -1) == (first[i] not in set(second))
        if m >= 0:
            assert tuple(inter.values[m]) == first[i]
    for i, m in enumerate(map_b):
        assert (m == -1) == (second[i] not in set(first))

    diff, mapping = a.difference_and_mapping(b)
    expected = [row for row in first if row not in set(second)]
    assert [tuple(r) for r in diff.values.tolist()] == expected
    assert (mapping >= 0).sum() == len(expected)


def test_set_operations_need_same_names():
    with pytest.raises(ValueError, match="different names"):
        Labels(["a"], [[0]]).union(Labels(["b"], [[0]]))
    with pytest.raises(TypeError, match="Labels"):
        Labels(["a"], [[0]]).intersection([[0]])


def test_select():
    labels = Labels(["system", "atom", "type"], [[0, 0, 1], [0, 1, 8], [1, 0, 1], [1, 1, 1]])
    assert labels.select(Labels(["type"], [[1]])).tolist() == [0, 2, 3]
    assert labels.select(Labels(["system", "type"], [[1, 1], [0, 8]])).tolist() == [1, 2, 3]
    assert labels.select(labels[1]).tolist() == [1]
    assert labels.select(Labels(["type"], [[6]])).tolist() == []
    with pytest.raises(ValueError, match="'other'"):
        labels.select(Labels(["other"], [[0]]))


def test_select_large_is_fast_enough():
    n = 2_000_000
    labels = Labels(["system", "atom"], np.stack([np.arange(n) // 1000, np.arange(n) % 1000], 1))
    selected = labels.select(Labels(["system"], [[5], [1999]]))
    assert selected.tolist() == list(range(5000, 6000)) + list(range(1999000, 2000000))


def test_dimension_manipulation():
    labels = Labels(["a", "b"], [[0, 1], [1, 1]])
    assert labels.append("c", [5, 6]).values.tolist() == [[0, 1, 5], [1, 1, 6]]
    inserted = labels.insert(0, "z", [7, 8])
    assert inserted.names == ["z", "a", "b"] and inserted["z"].tolist() == [7, 8]
    assert labels.remove("b").values.tolist() == [[0], [1]]
    with pytest.raises(ValueError, match="duplicated"):
        labels.remove("a")
    assert labels.rename("a", "x").names == ["x", "b"]
    assert labels.permute([1, 0]).values.tolist() == [[1, 0], [1, 1]]
    with pytest.raises(ValueError, match="permutation"):
        labels.permute([0, 0])
    with pytest.raises(ValueError, match="one value per entry"):
        labels.append("c", [1])
    with pytest.raises(ValueError, match="more than once"):
        labels.append("a", [1, 2])
    with pytest.raises(ValueError, match="not one of"):
        labels.rename("q", "x")


def test_view_and_unique():
    labels = Labels(["a", "b"], [[1, 1], [0, 2], [1, 3]])
    view = labels.view("a")
    assert view.is_view() and view.values.tolist() == [[1], [0], [1]]
    with pytest.raises(ValueError, match="view"):
        view.position((1,))
    with pytest.raises(ValueError, match="duplicated"):
        view.to_owned()
    unique, inverse = view.unique()
    assert unique.values.tolist() == [[0], [1]]
    assert np.array_equal(unique.values[inverse], view.values)


def test_equality_pickle_and_torch(device):
    labels = Labels(["a", "b"], [[0, 1], [2, 3]])
    assert labels == Labels(["a", "b"], np.array([[0, 1], [2, 3]], dtype=np.int64))
    assert labels != Labels(["a", "c"], [[0, 1], [2, 3]])
    assert labels != Labels(["a", "b"], [[0, 1]])
    assert pickle.loads(pickle.dumps(labels)) == labels
    values = labels.torch_values(device)
    assert values.dtype == torch.int32 and values.device.type == device
    assert values.cpu().tolist() == [[0, 1], [2, 3]]
    assert labels.torch_values(device) is values
    assert Labels(["a"], torch.tensor([[3], [4]])).values.tolist() == [[3], [4]]


def test_repr_and_print():
    labels = Labels(["system", "atom"], [[0, 10], [1, 2]])
    text = str(labels)
    assert "system" in text and "atom" in text and "10" in text
    assert "2 entries" in repr(labels)
    long = Labels.range("n", 100).print(max_entries=4)
    assert "..." in long and "99" in long


@given(rows_strategy)
@settings(max_examples=80, deadline=None)
def test_construction_rejects_exactly_the_duplicated_rows(rows):
    values = np.array(rows, dtype=np.int64).reshape(-1, 3)
    if len(set(rows)) == len(rows):
        labels = Labels(["a", "b", "c"], values)
        assert labels.values.tolist() == values.tolist()
        assert labels.values.dtype == np.int32
    else:
        first_repeat = next(i for i, row in enumerate(rows) if row in rows[:i])
        with pytest.raises(ValueError, match=f"at rows {rows.index(rows[first_repeat])} and "
                                             f"{first_repeat}"):
            Labels(["a", "b", "c"], values)


@given(st.lists(st.integers(-(2**40), 2**40), min_size=1, max_size=10))
@settings(max_examples=50, deadline=None)
def test_out_of_int32_values_are_never_wrapped(column):
    values = np.array(column, dtype=np.int64).reshape(-1, 1)
    fits = all(-(2**31) <= v < 2**31 for v in column)
    if fits and len(set(column)) == len(column):
        assert Labels(["a"], values)["a"].tolist() == column
    elif not fits:
        with pytest.raises(ValueError, match="int32"):
            Labels(["a"], values)
