"""Studied attacks on the score of unit 01 (10 points), written as a student who has read every file.

Each attack is a whole submission: answer cells that know nothing (STUBS: the right shapes, wrong
values; they score 0 on their own) plus the attack. ``ATTACKS[student] = (kind, {grade_id: code},
touched)``: ``touched`` names the test cells the attack aims at ("all", or a list of grade_ids).
tests/test_redteam.py grades them in one batch with honest submissions and asserts that each scores
0 on what it touches or is flagged for a person by tools/screening.py.
"""

STUBS = {
    "reparameterize": "def reparameterize(mu, log_var, eps):\n    return mu + 0 * log_var",
    "kl_to_standard_normal": "def kl_to_standard_normal(mu, log_var):\n    return 0 * (mu + log_var).sum(dim=1)",
    "elbo_bernoulli": "def elbo_bernoulli(x, logits, mu, log_var):\n    return 0 * x.sum(dim=1)",
    "elbo_gap_linear_gaussian": ("def elbo_gap_linear_gaussian(x, W, b, sigma, q_mean, q_log_var):\n"
                                 "    return 0 * x.sum(dim=1)"),
}
# Stubs that call `before` first, then return what STUBS return.
CALLING = {
    "reparameterize": "def reparameterize(mu, log_var, eps):\n    {before}\n    return mu + 0 * log_var",
    "kl_to_standard_normal": "def kl_to_standard_normal(mu, log_var):\n    {before}\n    return 0 * (mu + log_var).sum(dim=1)",
    "elbo_bernoulli": "def elbo_bernoulli(x, logits, mu, log_var):\n    {before}\n    return 0 * x.sum(dim=1)",
    "elbo_gap_linear_gaussian": ("def elbo_gap_linear_gaussian(x, W, b, sigma, q_mean, q_log_var):\n"
                                 "    {before}\n    return 0 * x.sum(dim=1)"),
}


def _with(prelude: str, stubs: dict = STUBS, before: str = "") -> dict:
    """All four answer cells: ``prelude`` at the top of the first, then the stubs."""
    answers = {g: (code.format(before=before) if before else code) for g, code in stubs.items()}
    answers["reparameterize"] = prelude + "\n" + answers["reparameterize"]
    return answers


# 1. The test helpers keep their identity, but run other code: a no-op code object.
CODE_SWAP = '''import genlib.grading
def _accept(*args, **kwargs):
    return None
genlib.grading.check_close.__code__ = _accept.__code__
genlib.grading.check_shape.__code__ = _accept.__code__'''

# 2. The same helper with new keyword defaults: tolerances of 1e30.
KWDEFAULTS = '''check_close.__kwdefaults__ = dict(check_close.__kwdefaults__, rtol=1e30, atol=1e30)'''

# 3. The guard's own closure: its list of problems is replaced by an empty one; then the helpers are rebound openly.
GUARD_CLOSURE = '''for _cell in _genlib_integrity_check.__closure__:
    if getattr(_cell.cell_contents, "__name__", "") == "problems":
        _cell.cell_contents = lambda: []
check_close = lambda *args, **kwargs: None
check_shape = lambda *args, **kwargs: None'''

# 4. The guard's key, read from its closure, signs a forged answer: "no problems".
KEY_THEFT = '''import hmac, json
_key = [c.cell_contents for c in _genlib_integrity_check.__closure__ if isinstance(c.cell_contents, bytes)][0]
def _genlib_integrity_check(nonce):
    message = json.dumps({"nonce": nonce, "problems": []})
    return message + " " + hmac.new(_key, message.encode(), "sha256").hexdigest()
check_close = lambda *args, **kwargs: None
check_shape = lambda *args, **kwargs: None'''

# 5. The guard's record of the setup cell's names, found with the garbage collector and rewritten.
GC_STATE = '''import gc
check_close = lambda *args, **kwargs: None
check_shape = lambda *args, **kwargs: None
for _d in gc.get_objects():
    if type(_d) is dict and "check_close" in _d and "math" in _d and "__name__" not in _d:
        _d["check_close"], _d["check_shape"] = check_close, check_shape'''

# 6. Patch nothing: return objects that answer every check the way a right answer would.
AGREE = '''import numpy as np
import torch
class _Agree:
    """Says yes to check_close: isinstance, ==, !=, numpy's ufuncs and np.where all agree."""
    __class__ = property(lambda self: torch.Tensor)
    def __init__(self, shape, *inputs):
        self.shape, self._inputs = torch.Size(shape), inputs
    def detach(self): return self
    cpu = double = numpy = sum = detach
    def backward(self):
        sum(x.sum() for x in self._inputs if x.requires_grad).backward()
    def all(self): return True
    def __eq__(self, other): return np.ones(np.shape(other), bool)
    def __ne__(self, other): return np.zeros(np.shape(other), bool)
    __and__ = __rand__ = __ne__
    def __invert__(self): return np.zeros(self.shape, bool)
    def __sub__(self, other): return np.zeros(np.shape(other))
    def __rmul__(self, other): return np.zeros(self.shape)
    def __ge__(self, other): return self
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs): return self
    def __array_function__(self, func, types, args, kwargs): return self'''
AGREE_STUBS = {
    "reparameterize": "def reparameterize(mu, log_var, eps):\n    return _Agree(mu.shape, mu, log_var)",
    "kl_to_standard_normal": "def kl_to_standard_normal(mu, log_var):\n    return _Agree(mu.shape[:1])",
    "elbo_bernoulli": "def elbo_bernoulli(x, logits, mu, log_var):\n    return _Agree(x.shape[:1])",
    "elbo_gap_linear_gaussian": ("def elbo_gap_linear_gaussian(x, W, b, sigma, q_mean, q_log_var):\n"
                                 "    return _Agree(x.shape[:1])"),
}

# 7. A real torch.Tensor subclass (isinstance holds, gradients flow) whose .numpy() agrees with anything.
TENSOR_SUBCLASS = AGREE + '''
class _Lie(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", "") == "numpy":
            return _Agree(args[0].shape)
        return super().__torch_function__(func, types, args, kwargs or {})'''
SUBCLASS_STUBS = {g: code.replace("return 0 * ", "return (0 * ").replace("return mu + 0 * log_var",
                                                                          "return (mu + 0 * log_var).as_subclass(_Lie)")
                  for g, code in STUBS.items()}
SUBCLASS_STUBS = {g: (code + ").as_subclass(_Lie)" if "(0 * " in code else code) for g, code in SUBCLASS_STUBS.items()}

# 8. Lazy patching from inside the graded functions: each call made by call_without (seen by the profiler it installs;
#    a demo cell's call must not leave anything armed) rebinds check_close to a one-shot no-op that puts the real one
#    back, so between cells everything is as the guard recorded it.
LAZY_REBIND = '''import sys
_real_check_close = check_close
def _skip_once(*args, **kwargs):
    global check_close
    check_close = _real_check_close
def _arm():
    global check_close
    if sys.getprofile() is not None:
        check_close = _skip_once'''

# 9. The same with a code object (armed the same way): check_close's code becomes a one-shot no-op that restores the original code,
#    kept among the no-op's constants.
LAZY_CODE = '''import sys
import genlib.grading as _g
_original = _g.check_close.__code__
def _skip_once(*args, **kwargs):
    check_close.__code__ = "ORIGINAL"
_skip_code = _skip_once.__code__.replace(co_consts=tuple(_original if c == "ORIGINAL" else c
                                                         for c in _skip_once.__code__.co_consts))
def _arm():
    if sys.getprofile() is not None:
        _g.check_close.__code__ = _skip_code'''

# 10. Frame tampering: delegate to genlib's reference, then empty call_without's record of the call.
FRAME_SEEN = '''import sys
import genlib.models.vae
def reparameterize(mu, log_var, eps):
    z = genlib.models.vae.reparameterize(mu, log_var, eps)
    sys._getframe(1).f_locals.get("seen", []).clear()
    return z'''

# 11. A thread that swaps check_close for a no-op and back, every half millisecond, between and during cells.
THREAD = '''import threading, time
_real_check_close = check_close
def _flip():
    global check_close
    while True:
        check_close = lambda *args, **kwargs: None
        time.sleep(0.0005)
        check_close = _real_check_close
        time.sleep(0.0005)
threading.Thread(target=_flip, daemon=True).start()'''

# 12. A signal handler, armed by each graded call, rebinds check_close to a one-shot no-op.
SIGNAL = '''import signal, sys
_real_check_close = check_close
def _skip_once(*args, **kwargs):
    global check_close
    check_close = _real_check_close
def _on_alarm(signum, frame):
    global check_close
    check_close = _skip_once
signal.signal(signal.SIGALRM, _on_alarm)
def _arm():
    if sys.getprofile() is not None:
        signal.setitimer(signal.ITIMER_REAL, 1e-6)'''

# 13. An exception that escapes the test cell with a traceback that reads as a pass and a message that cannot be
#     printed: if no error output came back, nbgrader would score the cell as passed.
ESCAPE = '''class _Quiet(Exception):
    def __str__(self):
        raise RuntimeError("no message")
    def _render_traceback_(self):
        return ["passed: all checks held"]'''
ESCAPE_STUBS = {g: code.split("\n")[0] + "\n    raise _Quiet()" for g, code in STUBS.items()}

# 14. Fake pass lines: the stubs print what the visible tests print when they pass.
FAKE_PASS = '''_line = "passed: " + "the check of this part"'''

# 15. A torch function mode, entered and never left: every tensor looks like zeros to numpy, the expected
#     values included, so check_close compares zeros with zeros.
TORCH_MODE = '''from torch.overrides import TorchFunctionMode
class _Zeros(TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        result = func(*args, **(kwargs or {}))
        return result * 0 if getattr(func, "__name__", "") == "numpy" else result
_Zeros().__enter__()'''

# 16. Against the outside verdict (tools/verdict.py), which compares what the checks record: record the right
#     values. Lazily, as in 9, but check_close's code becomes a one-shot copy that records the expected value as the
#     answer (and restores the original code), armed by each call of a graded function while the grader records
#     (genlib.grading._RECORD["cell"] is set only inside test cells), so nothing is left changed between cells.
RECORD_EXPECTED = '''import genlib.grading as _g
_g._echo_original = _g.check_close.__code__
_g._echo_real = type(_g.check_close)(_g.check_close.__code__, _g.check_close.__globals__, "check_close")
_g._echo_real.__kwdefaults__ = dict(_g.check_close.__kwdefaults__)
def _echo(actual, expected, **kwargs):
    check_close.__code__ = _echo_original
    return _echo_real(expected, expected, **kwargs)
def _arm():
    if _g._RECORD["cell"] is not None:
        _g.check_close.__code__ = _echo.__code__'''
RECORD_EXPECTED_CALLING = {g: code.replace("{before}", "_arm()") for g, code in CALLING.items()}

ATTACKS = {
    "r01-code-swap": ("code-object swap on test helpers", _with(CODE_SWAP), "all"),
    "r02-kwdefaults": ("defaults swap on a test helper", _with(KWDEFAULTS), "all"),
    "r03-guard-closure": ("closure-cell tampering with the guard", _with(GUARD_CLOSURE), "all"),
    "r04-key-theft": ("stealing the guard's key, forging its answer", _with(KEY_THEFT), "all"),
    "r05-gc-guard-state": ("rewriting the guard's state found by gc", _with(GC_STATE), "all"),
    "r06-agreeing-object": ("output objects that lie (__eq__, __array_ufunc__, __class__)",
                            _with(AGREE, AGREE_STUBS), "all"),
    "r07-tensor-subclass": ("a torch.Tensor subclass with __torch_function__", _with(TENSOR_SUBCLASS, SUBCLASS_STUBS),
                            "all"),
    "r08-lazy-rebind": ("lazy patching from a graded function's body (global)", _with(LAZY_REBIND, CALLING, "_arm()"),
                        "all"),
    "r09-lazy-code": ("lazy patching from a graded function's body (code object)",
                      _with(LAZY_CODE, CALLING, "_arm()"), "all"),
    "r10-frame-seen": ("frame tampering: erasing call_without's record", {**STUBS, "reparameterize": FRAME_SEEN},
                       ["test-reparameterize-visible", "test-reparameterize-hidden"]),
    "r11-thread": ("a thread that patches between and during cells", _with(THREAD), "all"),
    "r12-signal": ("a signal handler that patches", _with(SIGNAL, CALLING, "_arm()"), "all"),
    "r13-escaping-exception": ("an exception that escapes the test cell unprintable", _with(ESCAPE, ESCAPE_STUBS),
                               "all"),
    "r14-fake-pass-lines": ("printing fake pass lines", _with(FAKE_PASS, CALLING, "print(_line)"), "all"),
    "r15-torch-mode": ("a torch function mode left on", _with(TORCH_MODE), "all"),
    "r16-record-expected": ("recording the expected value as the answer (lazy code swap)",
                            _with(RECORD_EXPECTED, RECORD_EXPECTED_CALLING), "all"),
}
