"""check_backprop and `glassnet check student.py`: one student file per kind of mistake.

Each file is written by the test, run through the CLI, and the diagnosis (which equation, the
mistake's name, the hint) is asserted. The known slips of classic derivations are among them.
"""

import textwrap

import numpy as np
import pytest

from glassnet import check_backprop
from glassnet.cli import main
from glassnet.mistakes import MISTAKES, candidates

DERIVATIVE = {
    "correct sigmoid": ("a * (1 - a)", None, None),
    "sigma'(a) for sigma'(z)": ("s = 1 / (1 + np.exp(-a))\n    return s * (1 - s)", "sigma_prime_of_a", "BP1"),
    "sigmoid range slip (tanh's derivative)": ("1 - a ** 2", "tanh_for_sigmoid", "BP1"),
    "a-form on z": ("z * (1 - z)", "a_form_on_z", "BP1"),
    "f(z) for f'(z)": ("a", "activation_for_derivative", "BP1"),
    "derivative forgotten": ("np.ones_like(z)", "forgot_fprime", "BP1"),
}
LOSS_GRAD = {
    "correct mse": ("(a - y) / len(a)", None, None),
    "sign of dC/da (y - a)": ("(y - a) / len(a)", "sign_of_dC_da", "dC/da"),
    "forgotten 1/n": ("a - y", "forgot_1_over_n", "dC/da"),
    "sum where element-wise": ("np.broadcast_to((a - y).sum(axis=1, keepdims=True), a.shape) / len(a)",
                               "sum_not_elementwise", "dC/da"),
    "delta = loss / output": ("np.mean(0.5 * ((a - y) ** 2).sum(axis=1)) / a", "loss_over_output",
                              "dC/da"),
    "mean over every entry": ("(a - y) / a.size", "mean_over_outputs", "dC/da"),
}
BACKWARD_OK = ("delta = grad_a * layer.activation.derivative(layer.z, layer.a)",
               "delta.T @ layer.a_prev", "delta.sum(axis=0)", "delta @ layer.W")
BACKWARD = {
    "correct": ({}, None, None),
    "missing transpose": ({3: "delta @ layer.W.T"}, "missing_transpose", "down"),
    "dW transposed": ({1: "layer.a_prev.T @ delta"}, "transposed_dW", "BP4"),
    "db not summed": ({2: "delta"}, "db_not_summed", "BP3"),
    "db a mean (1/n twice)": ({2: "delta.mean(axis=0)"}, "extra_1_over_n", "BP3"),
    "grad_a for delta in dW": ({1: "grad_a.T @ layer.a_prev"}, "grad_a_for_delta", "BP4"),
    "a for a_prev": ({1: "delta.T @ layer.a"}, "a_for_a_prev", "BP4"),
    "sum where element-wise (delta)": (
        {0: "delta = grad_a.sum(axis=1, keepdims=True) * layer.activation.derivative(layer.z, layer.a)"},
        "sum_not_elementwise", "BP1"),
    "sigma'(a) in the layer": (
        {0: "delta = grad_a * layer.activation.derivative(layer.a, layer.activation.forward(layer.a))"},
        "sigma_prime_of_a", "BP1"),
}
JVP = {
    "correct": ("layer.activation.derivative(layer.z, layer.a) * (da_prev @ layer.W.T)", None, None),
    "forward propagation by inverting sigma": (
        "(da_prev @ layer.W.T) / layer.activation.derivative(layer.z, layer.a)",
        "inverts_sigma_or_divides_by_W", "jvp"),
    "forward propagation dividing by W": (
        "(da_prev @ np.linalg.pinv(layer.W)) / layer.activation.derivative(layer.z, layer.a)",
        "inverts_sigma_or_divides_by_W", "jvp"),
    "f' forgotten": ("da_prev @ layer.W.T", "forgot_fprime", "jvp"),
}


def _file(tmp_path, body, header=""):
    path = tmp_path / "student.py"
    path.write_text("import numpy as np\n" + header + textwrap.dedent(body))
    return path


def _run(capsys, path, *flags):
    code = main(["check", str(path), *flags])
    out, err = capsys.readouterr()
    return code, out, err


def _assert_diagnosis(code, out, err, mistake, equation):
    assert "Traceback" not in out + err
    if mistake is None:
        assert code == 0 and err == "" and "PASSED: every equation agrees" in out
        return
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("glassnet: error: check failed for ")
    assert mistake in err  # recognised by name
    wrong = [line for line in out.splitlines() if line.lstrip().startswith("WRONG")]
    assert wrong and wrong[0].split()[1] == equation, out
    assert f"({MISTAKES[mistake].title})" in out
    assert MISTAKES[mistake].hint.split("{")[0][:40] in out


@pytest.mark.parametrize("case", list(DERIVATIVE))
def test_derivative_mistakes(tmp_path, capsys, case):
    body, mistake, equation = DERIVATIVE[case]
    if "return" not in body:
        body = f"return {body}"
    path = _file(tmp_path, f"def derivative(z, a):\n    {body}\n", 'ACTIVATION = "sigmoid"\n')
    _assert_diagnosis(*_run(capsys, path), mistake, equation)


@pytest.mark.parametrize("case", list(LOSS_GRAD))
def test_loss_gradient_mistakes(tmp_path, capsys, case):
    body, mistake, equation = LOSS_GRAD[case]
    path = _file(tmp_path, f"def loss_grad(a, y):\n    return {body}\n", 'LOSS = "mse"\n')
    code, out, err = _run(capsys, path)
    _assert_diagnosis(code, out, err, mistake, equation)
    if mistake:  # BP1 is then wrong too, but only because of dC/da: said so, not blamed
        assert "wrong only because the equation above it is" in out
        assert "FAILED: 1 equation(s) wrong: dC/da of layer 3." in out


@pytest.mark.parametrize("case", list(BACKWARD))
def test_layer_backward_mistakes(tmp_path, capsys, case):
    changes, mistake, equation = BACKWARD[case]
    parts = list(BACKWARD_OK)
    for i, text in changes.items():
        parts[i] = text
    body = f"    {parts[0]}\n    return delta, {parts[1]}, {parts[2]}, {parts[3]}\n"
    path = _file(tmp_path, "def backward(layer, grad_a):\n" + body)
    code, out, err = _run(capsys, path)
    if mistake == "missing_transpose":
        # delta @ W.T cannot even multiply in the non-square layers: the error and the hint
        assert "WRONG  call   backward(layer 3, grad_a)" in out and "matmul" in out
        assert "Going down a layer multiplies by the transpose" in out
        # in the square layer it multiplies, and the numbers give it away
        assert "WRONG  down   dC/da^1 = (W^2)^T delta^2" in out
        assert code == 1 and "missing_transpose" in err
        return
    _assert_diagnosis(code, out, err, mistake, equation)


@pytest.mark.parametrize("case", list(JVP))
def test_forward_mode_mistakes(tmp_path, capsys, case):
    body, mistake, equation = JVP[case]
    path = _file(tmp_path, f"def jvp(layer, da_prev):\n    return {body}\n")
    _assert_diagnosis(*_run(capsys, path), mistake, equation)


@pytest.mark.parametrize("activation,body,mistake", [
    ("tanh", "1 - a ** 2", None), ("tanh", "1 - z ** 2", "a_form_on_z"),
    ("relu", "(z > 0).astype(float)", None), ("relu", "-(z > 0).astype(float)", "sign"),
    ("elu", "np.where(z > 0, 1.0, a + 1.0)", None), ("softplus", "1 / (1 + np.exp(-z))", None),
])
def test_other_activations_through_the_flag(tmp_path, capsys, activation, body, mistake):
    path = _file(tmp_path, f"def derivative(z, a):\n    return {body}\n")
    code, out, err = _run(capsys, path, "--activation", activation, "--sizes", "2,5,5,3",
                          "--samples", "7")
    assert f"a 2-5-5-3 {activation} network with mse, a batch of 7 samples" in out
    _assert_diagnosis(code, out, err, mistake, "BP1")


def test_cross_entropy_loss_gradient_goes_through_softmax(tmp_path, capsys):
    path = _file(tmp_path, "def loss_grad(a, y):\n    return -y / a / len(a)\n",
                 'LOSS = "cross_entropy"\n')
    _assert_diagnosis(*_run(capsys, path), None, None)
    path = _file(tmp_path, "def loss_grad(a, y):\n    return -y / a\n", 'LOSS = "cross_entropy"\n')
    _assert_diagnosis(*_run(capsys, path), "forgot_1_over_n", "dC/da")


def test_a_wrong_equation_names_its_entries_with_numbers():
    (report,) = check_backprop(derivative=lambda z, a: z * (1 - z))
    first = report.equations[0]
    assert first.equation == "BP1" and not first.ok and first.n_wrong == first.n_entries == 10
    _, want, got = first.entries[0]
    assert want != pytest.approx(got)
    assert f"expected {want:.6g}  got {got:.6g}" in report.text()
    assert report.mistakes == ["a_form_on_z"]
    assert report.end_to_end and all(err > 1e-3 for _, err in report.end_to_end)


def test_several_pieces_in_one_file(tmp_path, capsys):
    path = _file(tmp_path, "def derivative(z, a):\n    return a * (1 - a)\n\n"
                           "def loss_grad(a, y):\n    return (y - a) / len(a)\n")
    code, out, err = _run(capsys, path)
    assert code == 1 and out.count("PASSED") == 1 and out.count("FAILED") == 1
    assert "check failed for loss_grad (recognised: sign_of_dC_da)" in err


@pytest.mark.parametrize("source,code,message", [
    ("def derivative(z, a)\n    return a\n", 1, r"could not be loaded: SyntaxError: .* \(line 2\)"),
    ("x = undefined_name\n", 1, r"could not be loaded: NameError: name 'undefined_name' is not "
                                r"defined \(line 2\)"),
    ("def helper():\n    pass\n", 2, r"defines none of derivative\(\), loss_grad\(\), backward\(\), "
                                    r"jvp\(\); define one"),
])
def test_broken_student_files_give_one_line(tmp_path, capsys, source, code, message):
    import re

    path = _file(tmp_path, source)
    got, out, err = _run(capsys, path)
    assert got == code and out == "" and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("glassnet: error: ") and re.search(message, err), err


def test_missing_file_and_bad_flags(tmp_path, capsys):
    code, out, err = _run(capsys, tmp_path / "nope.py")
    assert code == 2 and "No student file at" in err and err.count("\n") == 1
    path = _file(tmp_path, "def derivative(z, a):\n    return a\n")
    assert main(["check", str(path), "--sizes", "3"]) == 2
    assert "expected at least an input and an output size" in capsys.readouterr().err


def test_student_code_that_raises_or_returns_nonsense(tmp_path, capsys):
    path = _file(tmp_path, "def backward(layer, grad_a):\n    raise ZeroDivisionError('oops')\n")
    code, out, err = _run(capsys, path)
    assert code == 1 and "Your code raised ZeroDivisionError: oops" in out
    path = _file(tmp_path, "def backward(layer, grad_a):\n    return grad_a, grad_a\n")
    code, out, err = _run(capsys, path)
    assert code == 1 and "backward must return (delta, dW, db, grad_a_prev); got tuple of length 2" in out
    path = _file(tmp_path, "def derivative(z, a):\n    return 'a string'\n")
    code, out, err = _run(capsys, path)
    assert code == 1 and "Traceback" not in out + err and "WRONG" in out


def test_student_cannot_disturb_the_reference(tmp_path):
    """A piece that writes into its inputs changes nothing glassnet compares against."""
    def vandal(layer, grad_a):
        delta = grad_a * layer.activation.derivative(layer.z, layer.a)
        out = delta, delta.T @ layer.a_prev, delta.sum(axis=0), delta @ layer.W
        layer.W[...] = 0
        layer.z[...] = 0
        grad_a[...] = 0
        return out
    (report,) = check_backprop(backward=vandal)
    assert report.passed


def test_api_errors():
    with pytest.raises(ValueError, match="needs a piece to check"):
        check_backprop()
    with pytest.raises(ValueError, match="element-wise activations; softmax"):
        check_backprop(derivative=lambda z, a: a, activation="softmax")
    with pytest.raises(TypeError, match=r"The 'activation' setting must be a name"):
        check_backprop(derivative=lambda z, a: a, activation=3)
    with pytest.raises(ValueError, match="Unknown equation kind 'nope'"):
        candidates("nope", {})


def test_every_mistake_has_a_title_and_hint():
    for name, mistake in MISTAKES.items():
        assert mistake.name == name and mistake.hint


def test_nan_and_inf_from_the_student_are_wrong_entries():
    (report,) = check_backprop(derivative=lambda z, a: np.where(z > 0, np.nan, a * (1 - a)))
    first = report.equations[0]
    assert not first.ok and first.max_abs_error == np.inf and 0 < first.n_wrong < first.n_entries
    (report,) = check_backprop(loss_grad=lambda a, y: (a - y) / 0.0)
    assert not report.passed and "Traceback" not in report.text()


@pytest.mark.parametrize("kwargs,message", [
    ({"n_samples": 0}, r"The 'n_samples' parameter of check_backprop must be an int >= 1; got 0"),
    ({"seed": -2}, r"The 'seed' parameter of check_backprop must be an int >= 0; got -2"),
    ({"rtol": 0}, r"The 'rtol' parameter of check_backprop must be a float in \(0, 1\); got 0"),
])
def test_parameter_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        check_backprop(derivative=lambda z, a: a * (1 - a), **kwargs)


@pytest.mark.parametrize("sizes", [(2, 1), (1, 3, 1), (4, 6, 6, 6, 2)])
def test_other_network_shapes(sizes):
    def backward(layer, grad_a):
        delta = grad_a * layer.activation.derivative(layer.z, layer.a)
        return delta, delta.T @ layer.a_prev, delta.sum(axis=0), delta @ layer.W
    reports = check_backprop(backward=backward, derivative=lambda z, a: 1 - a * a,
                             activation="tanh", sizes=sizes, n_samples=3)
    assert [r.passed for r in reports] == [True, True]
    assert len(reports[1].equations) == 4 * (len(sizes) - 1)


@pytest.mark.parametrize("body", ["import sys\nsys.exit(0)\n", "raise SystemExit('bye')\n",
                                  "exit()\n"])
def test_a_student_file_that_exits_is_no_pass(tmp_path, capsys, body):
    from glassnet.cli import main

    student = tmp_path / "student.py"
    student.write_text("def derivative(z, a):\n    return a * (1 - a)\n" + body)
    assert main(["check", str(student)]) == 1  # as any broken student file: the check failed
    err = capsys.readouterr().err
    assert err.startswith("glassnet: error:") and "exited while being loaded" in err
    assert err.count("\n") == 1
