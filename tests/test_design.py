"""The design matrix and category codes (jdl.stats.design): the matrix built in place equals one
built independently with pandas (get_dummies and concatenation), exactly; category codes read from
a category column's own codes equal those of a rebuilt column; the codes computed once and handed
over give the same matrix; huge pages are switched off for the block and restored after."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest

from jdl.stats import design
from jdl.stats.design import (category_codes, coded_covariates, covariate_matrix, hugepages_enabled,
                              without_hugepages)


def _data():
    return pd.DataFrame({
        "age": [18.0, 25.5, 40.0, 33.0, 61.0, 18.0, 47.0],
        "n_prev": np.array([0, 3, 1, 7, 2, 0, 5], dtype=np.int64),
        "region": pd.Categorical(["N", "S", "S", "E", "N", "E", "S"], categories=["W", "S", "N", "E"]),
        "sex": ["M", "F", "M", "M", "F", "M", "M"],
        "employed": [True, False, False, True, False, False, True],
        "rate": [0.25, 1.5, 0.0, 2.75, 0.5, 1.0, 3.0],
    }, index=[f"u{i}" for i in range(7)])


COVARIATES = ["age", "n_prev", "region", "sex", "employed", "rate"]


def _reference(data, covariates, drop_first, constant):
    """The same matrix the slow way: numeric columns as floats, each categorical column through
    pandas' get_dummies (levels in the documented order: a category's own order without unused
    ones, False then True, sorted values), all concatenated."""
    parts = []
    if constant:
        parts.append(pd.DataFrame({"const": np.ones(len(data))}, index=data.index))
    for column in covariates:
        values = data[column]
        if pd.api.types.is_numeric_dtype(values.dtype) and values.dtype != bool:
            parts.append(values.astype(float).to_frame())
            continue
        if isinstance(values.dtype, pd.CategoricalDtype):
            levels = values.cat.remove_unused_categories()
        else:
            levels = pd.Categorical(values, categories=sorted(values.unique()))
        parts.append(pd.get_dummies(pd.Series(levels, index=data.index), prefix=column,
                                    drop_first=drop_first, dtype=float))
    return pd.concat(parts, axis=1)


@pytest.mark.parametrize("drop_first,constant", [(True, True), (False, False), (True, False)])
def test_design_built_in_place_equals_get_dummies_and_concat_exactly(drop_first, constant):
    data = _data()
    matrix, names = covariate_matrix(data, COVARIATES, drop_first=drop_first, constant=constant)
    expected = _reference(data, COVARIATES, drop_first, constant)
    assert names == list(expected.columns)
    assert matrix.dtype == np.float64 and matrix.flags.f_contiguous
    np.testing.assert_array_equal(matrix, expected.to_numpy(dtype=float))


def test_design_names_and_values_by_hand():
    data = _data()
    matrix, names = covariate_matrix(data, ["region", "employed", "age"], drop_first=True,
                                     constant=True)
    # region's levels held, in the category's order: S, N, E (W unused); first (S) dropped
    assert names == ["const", "region_N", "region_E", "employed_True", "age"]
    np.testing.assert_array_equal(matrix, [
        [1, 1, 0, 1, 18.0], [1, 0, 0, 0, 25.5], [1, 0, 0, 0, 40.0], [1, 0, 1, 1, 33.0],
        [1, 1, 0, 0, 61.0], [1, 0, 1, 0, 18.0], [1, 0, 0, 1, 47.0]])


def test_codes_handed_over_give_the_same_matrix():
    data = _data()
    coded = coded_covariates(data, COVARIATES)
    assert sorted(coded) == ["employed", "region", "sex"]
    with_codes = covariate_matrix(data, COVARIATES, drop_first=True, constant=True, codes=coded)
    without = covariate_matrix(data, COVARIATES, drop_first=True, constant=True)
    assert with_codes[1] == without[1]
    np.testing.assert_array_equal(with_codes[0], without[0])


@pytest.mark.parametrize("values", [
    pd.Series(pd.Categorical(["b", "a", "b", "c"], categories=["c", "b", "a", "z"])),
    pd.Series(pd.Categorical(["b", "a"], categories=["a", "b"], ordered=True)),
    pd.Series(pd.Categorical(["b", None, "a"], categories=["z", "a", "b"])),
    pd.Series(pd.Categorical([], categories=["a"])),
])
def test_category_codes_of_a_category_column_as_a_rebuilt_column_gives(values):
    codes, levels = category_codes(values)
    rebuilt = values.cat.remove_unused_categories()
    assert levels == list(rebuilt.cat.categories)
    assert codes.dtype == np.int64
    assert codes.tolist() == rebuilt.cat.codes.tolist()


@pytest.mark.parametrize("values,codes,levels", [
    ([True, False, True], [1, 0, 1], [False, True]),
    ([True, True], [0, 0], [True]),
    ([False, False], [0, 0], [False]),
    ([], [], []),
])
def test_category_codes_of_a_bool_column(values, codes, levels):
    column = pd.Series(values, dtype=bool)
    got_codes, got_levels = category_codes(column)
    assert got_codes.tolist() == codes and got_codes.dtype == np.int64
    assert got_levels == levels and all(type(v) is bool for v in got_levels)
    if len(values):  # as pandas' sorted factorisation gives them
        expected_codes, expected_levels = pd.factorize(column, sort=True)
        assert got_codes.tolist() == expected_codes.tolist()
        assert got_levels == list(expected_levels)


def test_category_codes_of_strings_and_mixed_values():
    assert category_codes(pd.Series(["m", "f", "m"]))[0].tolist() == [1, 0, 1]
    assert category_codes(pd.Series(["m", "f", "m"]))[1] == ["f", "m"]
    codes, levels = category_codes(pd.Series([2, "a", 2], dtype=object))
    assert levels == [2, "a"] and codes.tolist() == [0, 1, 0]


def test_without_hugepages_switches_off_and_restores():
    before = hugepages_enabled()
    with without_hugepages():
        assert not hugepages_enabled()
        with without_hugepages():  # nested
            assert not hugepages_enabled()
        assert not hugepages_enabled()
    assert hugepages_enabled() == before


def test_without_hugepages_restores_what_was_set_before_even_if_off():
    previous = design._set_madvise_hugepage(False)
    try:
        with without_hugepages():
            assert not hugepages_enabled()
        assert not hugepages_enabled()
        design._set_madvise_hugepage(True)
        with without_hugepages():
            assert not hugepages_enabled()
        assert hugepages_enabled()
    finally:
        design._set_madvise_hugepage(previous)


def test_without_hugepages_across_threads_restores_when_the_last_ends():
    before = hugepages_enabled()
    inside, release = threading.Event(), threading.Event()

    def worker():
        with without_hugepages():
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=worker)
    thread.start()
    inside.wait(10)
    with without_hugepages():
        pass
    assert not hugepages_enabled()  # the worker's block is still running
    release.set()
    thread.join(10)
    assert hugepages_enabled() == before


def test_without_hugepages_restores_after_an_error():
    before = hugepages_enabled()
    with pytest.raises(RuntimeError):
        with without_hugepages():
            raise RuntimeError("boom")
    assert hugepages_enabled() == before


def test_fit_and_match_leave_the_setting_as_it_was():
    from jdl.stats.matching import match

    rng = np.random.default_rng(3)
    data = pd.DataFrame({"x": rng.normal(size=200), "g": rng.choice(["a", "b"], 200)})
    data["treated"] = (rng.random(200) < 0.3).astype(int)
    before = hugepages_enabled()
    result = match(data, "treated", ["x", "g"])
    result.balance()
    assert hugepages_enabled() == before


def test_fit_match_and_balance_run_with_huge_pages_off(monkeypatch):
    """The fit, the radius match itself and the balance table each run inside without_hugepages
    (a decorator separated from match by a helper inserted between them once left match outside)."""
    import jdl.stats.balance as balance_module
    import jdl.stats.matching as matching

    seen = {}

    def spy(name, real):
        def call(*args, **kwargs):
            seen[name] = hugepages_enabled()
            return real(*args, **kwargs)
        return call

    monkeypatch.setattr(matching, "_unique_labels", spy("match", matching._unique_labels))
    monkeypatch.setattr(matching, "model_design", spy("fit", matching.model_design))
    monkeypatch.setattr(balance_module, "_Columns", spy("balance", balance_module._Columns))
    rng = np.random.default_rng(3)
    data = pd.DataFrame({"x": rng.normal(size=200), "g": rng.choice(["a", "b"], 200)})
    data["treated"] = (rng.random(200) < 0.3).astype(int)
    with_pages = hugepages_enabled()
    matching.match(data, "treated", ["x", "g"]).balance()
    assert seen == {"match": False, "fit": False, "balance": False}
    assert hugepages_enabled() == with_pages
