"""Tests of genlib.grading: the helpers that graded test cells use."""
from __future__ import annotations

import importlib
import inspect
import sys
import textwrap
import warnings

import numpy as np
import pytest
import torch

import genlib.models
import genlib.models.vae
from genlib.grading import call_without, check_close, check_shape, passed
from genlib.models import LinearGaussianModel
from genlib.models.vae import kl_standard_normal, reparameterize

MU = torch.tensor([[0.5, -1.0], [2.0, 0.0]])
LOG_VAR = torch.tensor([[0.1, -0.3], [0.0, 1.0]])


# ----------------------------------------------------------------------------- check_close


@pytest.mark.parametrize("actual, expected", [
    (torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0])),
    (torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0 + 1e-6])),  # within rtol
    (np.array([[1.0, 2.0]]), np.array([[1.0, 2.0]])),
    ([1.0, 2.0], np.array([1.0, 2.0])),
    (3.0, 3.0),
    (torch.tensor(3.0, requires_grad=True), torch.tensor(3.0)),
    (torch.tensor([float("nan"), float("inf"), -float("inf")]), torch.tensor([float("nan"), float("inf"), -float("inf")])),
])
def test_check_close_passes_on_equal_values(actual, expected):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning on stderr scores a test cell 0 in nbgrader
        assert check_close(actual, expected) is None


def test_check_close_names_the_index_and_both_values_and_the_hint():
    with pytest.raises(AssertionError) as info:
        check_close(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([1.0, 2.5, 3.0]), name="kl(mu, log_var)",
                    hint="sum over the latent dimension")
    message = str(info.value)
    assert message.startswith("kl(mu, log_var) differs from the expected value at index (1,): got 2, expected 2.5")
    assert "difference 0.5" in message and "1 of 3 entries are off" in message
    assert message.endswith("Hint: sum over the latent dimension")


def test_check_close_reports_the_worst_entry_of_a_matrix():
    expected = torch.zeros(3, 4)
    actual = expected.clone()
    actual[0, 1], actual[2, 3] = 0.1, 7.0
    with pytest.raises(AssertionError, match=r"at index \(2, 3\): got 7, expected 0 .*2 of 12 entries are off"):
        check_close(actual, expected)


def test_check_close_on_scalars_has_no_index():
    with pytest.raises(AssertionError, match=r"^your result differs from the expected value: got 1\.5, expected 1 "):
        check_close(1.5, 1.0)


def test_check_close_shape_mismatch():
    with pytest.raises(AssertionError, match=r"your result has shape \(3,\), expected \(3, 1\)\. Check which dimensions you sum"):
        check_close(torch.zeros(3), torch.zeros(3, 1))
    with pytest.raises(AssertionError, match=r"has shape \(2, 3\), expected \(3, 2\)\. Hint: transpose"):
        check_close(torch.zeros(2, 3), torch.zeros(3, 2), hint="transpose")


@pytest.mark.parametrize("got, want, shown", [
    (float("nan"), 2.0, r"is nan at index \(1,\) where 2 was expected"),
    (float("inf"), 2.0, r"is inf at index \(1,\) where 2 was expected"),
    (1.0, float("inf"), r"is 1 at index \(1,\) where inf was expected"),
    (-float("inf"), float("inf"), r"is -inf at index \(1,\) where inf was expected"),
    (float("nan"), -float("inf"), r"is nan at index \(1,\) where -inf was expected"),
])
def test_check_close_names_nan_and_infinity(got, want, shown):
    with pytest.raises(AssertionError, match=shown + r"\. NaN or infinity usually comes from exp\(\) overflowing .*Hint: use logsumexp"):
        check_close(torch.tensor([0.0, got]), torch.tensor([0.0, want]), hint="use logsumexp")


def test_check_close_messages_show_plain_numbers():
    with pytest.raises(AssertionError) as info:
        check_close(torch.tensor([float("nan")]), torch.tensor([2.0]))
    assert "np.float64" not in str(info.value)


def test_check_close_says_when_the_function_returned_nothing():
    with pytest.raises(AssertionError, match=r"your result is None: does your function end with a `return` statement\?"):
        check_close(None, torch.zeros(2))  # a tensor expected: still the message about `return`
    with pytest.raises(AssertionError, match=r"kl is None: does your function end with a `return`"):
        check_close(None, np.zeros(2), name="kl")


def test_check_close_wants_a_tensor_when_a_tensor_is_expected():
    with pytest.raises(AssertionError, match=r"kl should be a torch\.Tensor, got ndarray\. Use torch operations"):
        check_close(np.zeros(2), torch.zeros(2), name="kl")
    with pytest.raises(AssertionError, match=r"should be a torch\.Tensor, got float"):
        check_close(0.0, torch.tensor(0.0))


def test_check_close_rejects_non_numbers():
    with pytest.raises(AssertionError, match=r"your result should be numeric, got a str"):
        check_close("half", np.array([0.5]))
    with pytest.raises(AssertionError, match=r"your result should be numeric, got a dict"):
        check_close({"a": 1}, np.array([0.5]))


def test_check_close_tolerances():
    check_close(torch.tensor([100.0]), torch.tensor([100.5]), rtol=0.01)
    with pytest.raises(AssertionError, match=r"tolerance 0\.001"):
        check_close(torch.tensor([0.01]), torch.tensor([0.0]), rtol=0.0, atol=1e-3)


# ----------------------------------------------------------------------------- check_shape


def test_check_shape():
    assert check_shape(torch.zeros(4, 2), (4, 2)) is None
    assert check_shape([[1, 2], [3, 4]], [2, 2]) is None
    with pytest.raises(AssertionError, match=r"^z has shape \(2, 4\), expected \(4, 2\)\. Hint: one row per example$"):
        check_shape(torch.zeros(2, 4), (4, 2), name="z", hint="one row per example")
    with pytest.raises(AssertionError, match=r"^your result has shape \(\), expected \(3,\)\.$"):
        check_shape(torch.tensor(1.0), (3,))
    with pytest.raises(AssertionError, match=r"your result is None: does your function end with a `return`"):
        check_shape(None, (3,))


# ----------------------------------------------------------------------------- call_without


def _own_kl(mu, log_var):
    return 0.5 * (log_var.exp() + mu.pow(2) - 1 - log_var).sum(dim=1)


def _direct(mu, log_var):
    return kl_standard_normal(mu, log_var)


_alias = kl_standard_normal


def _through_alias(mu, log_var):
    return _alias(mu, log_var)


def _through_package(mu, log_var):
    return genlib.models.kl_standard_normal(mu, log_var)


def _through_a_library_method(mu, log_var):
    model = LinearGaussianModel(torch.eye(2), torch.zeros(2), 1.0)
    return -model.elbo(torch.zeros(len(mu), 2), mu, log_var)


def test_call_without_returns_the_value_when_the_reference_is_not_used():
    result = call_without([kl_standard_normal, reparameterize], _own_kl, MU, log_var=LOG_VAR)
    check_close(result, kl_standard_normal(MU, LOG_VAR))


@pytest.mark.parametrize("student", [_direct, _through_alias, _through_package, _through_a_library_method])
def test_call_without_catches_calls_of_the_reference(student):
    with pytest.raises(AssertionError, match=r"Your function calls genlib\.models\.vae\.kl_standard_normal, a ready-made "
                                              r"implementation of what this exercise grades\. Write the computation yourself"):
        call_without([kl_standard_normal], student, MU, LOG_VAR)


def test_call_without_catches_a_call_through_another_modules_import(tmp_path, monkeypatch):
    (tmp_path / "grading_probe_helpers.py").write_text(textwrap.dedent("""
        from genlib.models.vae import kl_standard_normal as _hidden

        def helper(mu, log_var):
            return _hidden(mu, log_var)
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    helpers = importlib.import_module("grading_probe_helpers")
    try:
        with pytest.raises(AssertionError, match=r"genlib\.models\.vae\.kl_standard_normal"):
            call_without([kl_standard_normal], lambda m, v: helpers.helper(m, v), MU, LOG_VAR)
    finally:
        sys.modules.pop("grading_probe_helpers", None)


@pytest.mark.parametrize("reference, args", [
    (kl_standard_normal, (MU, LOG_VAR)),
    (reparameterize, (MU, LOG_VAR)),  # calls torch.exp: LOAD_ATTR in the library, LOAD_METHOD in a copy
    (genlib.models.vae.gaussian_log_likelihood, (MU, MU, LOG_VAR)),
])
def test_call_without_catches_a_copy_made_with_exec(reference, args):
    namespace = dict(vars(genlib.models.vae))
    source = inspect.getsource(reference).replace(f"def {reference.__name__}(", "def student_answer(")
    exec(source, namespace)
    copy = namespace["student_answer"]
    assert copy is not reference and copy.__code__ is not reference.__code__
    with pytest.raises(AssertionError, match=rf"genlib\.models\.vae\.{reference.__name__}"):
        call_without([reference], copy, *args)


def test_call_without_catches_a_copy_of_a_method():
    model = LinearGaussianModel(torch.eye(2), torch.zeros(2), 1.0)
    namespace = dict(vars(sys.modules[LinearGaussianModel.__module__]))
    exec(textwrap.dedent(inspect.getsource(LinearGaussianModel.elbo_gap)), namespace)
    with pytest.raises(AssertionError, match=r"LinearGaussianModel\.elbo_gap"):
        call_without([model.elbo_gap], namespace["elbo_gap"], model, torch.zeros(1, 2), MU[:1], LOG_VAR[:1])


def test_call_without_names_every_reference_used():
    def student(mu, log_var):
        return kl_standard_normal(reparameterize(mu, log_var), log_var)

    with pytest.raises(AssertionError, match=r"calls genlib\.models\.vae\.reparameterize, genlib\.models\.vae\.kl_standard_normal, a ready-made"):
        call_without([kl_standard_normal, reparameterize, genlib.models.vae.bernoulli_log_likelihood], student, MU, LOG_VAR)


def test_call_without_needs_python_functions():
    with pytest.raises(TypeError, match=r"call_without needs Python functions as references, got <built-in"):
        call_without([torch.exp], _own_kl, MU, LOG_VAR)


def _profiler(frame, event, arg):  # a stand-in for a debugger or coverage tool
    pass


@pytest.mark.parametrize("student, outcome", [(_own_kl, None), (_direct, AssertionError),
                                              (lambda m, v: 1 / 0, ZeroDivisionError)])
def test_call_without_restores_the_previous_profiler(student, outcome):
    sys.setprofile(_profiler)
    try:
        if outcome is None:
            call_without([kl_standard_normal], student, MU, LOG_VAR)
        else:
            with pytest.raises(outcome):
                call_without([kl_standard_normal], student, MU, LOG_VAR)
        assert sys.getprofile() is _profiler
    finally:
        sys.setprofile(None)
    assert call_without([kl_standard_normal], _own_kl, MU, LOG_VAR) is not None
    assert sys.getprofile() is None


def test_call_without_writes_nothing_to_stderr(capfd):
    call_without([kl_standard_normal], _own_kl, MU, LOG_VAR)
    with pytest.raises(AssertionError):
        call_without([kl_standard_normal], _direct, MU, LOG_VAR)
    assert capfd.readouterr().err == ""


def test_passed_prints_one_line_on_stdout_and_returns_none(capfd):
    assert passed("coupling_forward copies the conditioning half") is None
    out, err = capfd.readouterr()
    assert out == "passed: coupling_forward copies the conditioning half\n" and err == ""


@pytest.mark.parametrize("what", ["", "   ", None, 3])
def test_passed_needs_a_description(what):
    with pytest.raises(TypeError, match="description"):
        passed(what)


# ----------------------------------------------------------------------------- what the checks record for the grader


def _recorded(checks) -> dict:
    """Run ``checks`` with recording on (as the grader does around a test cell); the record, as JSON."""
    import json

    from genlib import grading
    grading._record_begin("test-cell")
    try:
        checks()
    except Exception:  # a failed check (or a value whose conversion raises) still leaves its record
        pass
    return json.loads(grading._record_take())


def test_nothing_is_recorded_outside_grading():
    from genlib import grading
    check_close(torch.tensor([1.0]), torch.tensor([1.0]))
    assert grading._RECORD == {"cell": None, "entries": []}


def test_check_close_records_the_answer_before_comparing_even_when_it_fails():
    record = _recorded(lambda: (check_close(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0]), rtol=0.1),
                                check_close(torch.tensor([[3.0]]), torch.tensor([[4.0]]), atol=0.5)))
    assert record["cell"] == "test-cell"
    first, second = record["entries"]
    assert first == {"kind": "close", "actual": {"shape": [2], "data": [1.0, 2.0]}, "tensor": True,
                     "expected": {"shape": [2], "data": [1.0, 2.0]}, "expected_tensor": True, "rtol": 0.1, "atol": 1e-6}
    assert second["actual"] == {"shape": [1, 1], "data": [3.0]} and second["atol"] == 0.5


def test_check_shape_records_the_shape_only():
    record = _recorded(lambda: check_shape(np.zeros((2, 3)), (2, 3)))
    assert record["entries"] == [{"kind": "shape", "actual": {"shape": [2, 3]}, "expected_shape": [2, 3]}]


def test_values_that_are_not_plain_are_recorded_as_errors_not_converted():
    class Lie(torch.Tensor):
        pass

    class Raises:
        def __array__(self, *args, **kwargs):
            raise RuntimeError("no")

    record = _recorded(lambda: check_close(torch.zeros(2).as_subclass(Lie), torch.zeros(2)))
    assert "subclass of torch.Tensor" in record["entries"][0]["actual"]["error"]
    record = _recorded(lambda: check_close(Raises(), 1.0))
    assert record["entries"][0]["actual"] == {"error": "RuntimeError: no"}
    record = _recorded(lambda: check_close(np.array([1.0, 2.0]), torch.tensor([1.0, 2.0])))
    assert record["entries"][0]["tensor"] is False  # the grader wants a tensor here: it will fail this outside


def test_taking_the_record_stops_recording():
    from genlib import grading
    _recorded(lambda: check_close(1.0, 1.0))
    check_close(1.0, 1.0)
    assert grading._RECORD == {"cell": None, "entries": []}
