"""The integrity guard's kernel side: the code that tools/integrity.py runs in the student's kernel.

This file is not imported by the grader. ``tools.integrity.guard_source(key)`` is its code from the
``def`` on (this docstring is left out: it is not run in the student's kernel), followed by the lines
that call ``_genlib_make_integrity_guard`` with the session's key and delete it; nbgrader's kernel
executes that text before the first cell of a submission, silently. It is a module of its own
so that linters and readers see it as Python (it used to be a string inside tools/integrity.py).

``_genlib_make_integrity_guard(key_hex)`` imports what the tests rely on and snapshots it before
any student code runs, then returns five closures: ``mark`` and ``record`` (around each locked setup
cell: the names it bound), ``check`` (before each graded test cell: what was changed, signed with
the key), and genlib.grading's ``_record_begin`` and ``_record_take`` (the test cell's record of its
checks). tools/integrity.py's docstring says what is checked and why.

Runs only inside an IPython kernel: ``get_ipython`` is a builtin there. Everything the closures use
is bound when the guard is made, so a student who rebinds a module-level name later changes nothing.
"""


def _genlib_make_integrity_guard(key_hex):
    import builtins, hashlib, hmac, json, math, sys
    import numpy, torch, torch.nn.functional, torch.testing, numpy.testing
    import genlib, genlib.grading

    shell = get_ipython()  # noqa: F821 (IPython puts get_ipython in the kernel's builtins)
    key = bytes.fromhex(key_hex)
    _id, _len, _list, _dict, _sorted, _getattr, _type = id, len, list, dict, sorted, getattr, type
    _dumps, _new = json.dumps, hmac.new
    allowed_hook_modules = ("IPython", "ipykernel", "matplotlib", "matplotlib_inline", "ipywidgets", "comm",
                            "traitlets", "jupyter_client", "tqdm", "_pytest", "importlib", "six", "pkg_resources",
                            "setuptools", "_distutils_hack", "zmq", "torch", "numpy", "scipy", "sklearn")
    watched_modules = ("builtins", "math", "numpy", "numpy.testing", "torch", "torch.testing", "torch.nn.functional",
                       "genlib.grading")
    modules = {name: sys.modules[name] for name in watched_modules}
    # the last result, and what IPython and ipykernel put in or take out of builtins around every cell
    volatile = {"builtins": {"_", "input", "get_ipython", "exit", "quit", "display"}}
    module_snapshots = {name: {k: v for k, v in vars(module).items() if k not in volatile.get(name, ())}
                        for name, module in modules.items()}
    class_snapshots = {cls: _dict(vars(cls)) for cls in (torch.Tensor, numpy.ndarray)}
    runners = ("run_cell", "run_cell_async", "run_ast_nodes", "run_code", "transform_cell", "transform_ast",
               "showtraceback", "_run_cell", "should_run_async", "user_expressions", "ev")
    runner_snapshot = {name: _getattr(_type(shell), name, None) for name in runners}
    recorded_names = {}

    def foreign(hook):
        module = _getattr(hook, "__module__", None) or _getattr(_type(hook), "__module__", "") or ""
        return not module.split(".")[0] in allowed_hook_modules

    def hooks():
        manager = shell.input_transformer_manager
        return {
            "an IPython input transformer": _list(shell.input_transformers_cleanup) + _list(shell.input_transformers_post)
            + _list(manager.cleanup_transforms) + _list(manager.line_transforms) + _list(manager.token_transformers),
            "an IPython AST transformer": _list(shell.ast_transformers),
            "an IPython event callback": [cb for callbacks in shell.events.callbacks.values() for cb in callbacks],
            "an import hook": _list(sys.meta_path) + _list(sys.path_hooks),
        }

    hooks_before = {_id(hook) for found in hooks().values() for hook in found}

    def added_hooks():
        return {kind: [h for h in found if _id(h) not in hooks_before and foreign(h)] for kind, found in hooks().items()}

    names_before = set()

    def mark():
        names_before.clear()
        names_before.update(shell.user_ns)

    _function = _type(lambda: None)
    _function_modes, _dispatch_modes = torch._C._len_torch_function_stack, torch._C._len_torch_dispatch_stack

    def contents(cell):
        try:
            return cell.cell_contents
        except ValueError:  # an empty cell
            return None

    def internals(function, with_closure):
        """What a function runs with, besides its identity: code, defaults and (here) closure cells."""
        kwdefaults = function.__kwdefaults__
        cells = function.__closure__ if with_closure else None
        return (function.__code__, function.__defaults__, kwdefaults, _dict(kwdefaults) if kwdefaults else None,
                cells, [contents(cell) for cell in cells] if cells else None)

    def same_internals(function, snapshot, with_closure):
        now = internals(function, with_closure)
        return (now[0] is snapshot[0] and now[1] is snapshot[1] and now[2] is snapshot[2] and now[4] is snapshot[4]
                and (now[3] or {}).keys() == (snapshot[3] or {}).keys()
                and all(now[3][k] is v for k, v in (snapshot[3] or {}).items())
                and all(a is b for a, b in zip(now[5] or (), snapshot[5] or ())))

    # the Python functions of the watched modules keep their code and defaults; genlib.grading's (the test
    # helpers) and the setup cell's keep their closure cells too
    function_snapshots = {(name, key): internals(value, name == "genlib.grading")
                          for name, snapshot in module_snapshots.items() for key, value in snapshot.items()
                          if _type(value) is _function}
    recorded_internals = {}

    def record():
        for name, value in shell.user_ns.items():
            if name.startswith("_") or name in names_before:
                continue
            if _type(value).__name__ in ("module", "function", "builtin_function_or_method", "type") or callable(value):
                recorded_names[name] = value
                if _type(value) is _function:
                    recorded_internals[name] = internals(value, True)

    def problems():
        found = []
        for kind, added in added_hooks().items():
            if added:
                found.append(f"{kind} was added ({added[0]!r})")
        for name, module in modules.items():
            if sys.modules.get(name) is not module:
                found.append(f"sys.modules[{name!r}] was replaced")
            current = vars(module)
            changed = [k for k, v in module_snapshots[name].items() if current.get(k, None) is not v]
            if changed:
                found.append(f"{name}.{changed[0]} was changed")
        for cls, snapshot in class_snapshots.items():
            current = vars(cls)  # a method set on the Python class hides the C base class's: new keys count
            changed = [k for k, v in current.items() if snapshot.get(k, None) is not v]
            if changed:
                found.append(f"{cls.__name__}.{changed[0]} was changed")
        for name, value in runner_snapshot.items():
            if _getattr(_type(shell), name, None) is not value or name in vars(shell):
                found.append(f"IPython's {name} was replaced")
        if sys.gettrace() is not None or sys.getprofile() is not None:
            found.append("a trace or profile function is installed")
        for name, value in recorded_names.items():
            if shell.user_ns.get(name, None) is not value:
                found.append(f"{name!r}, defined by a locked cell, was rebound or deleted")
            elif name in recorded_internals and not same_internals(value, recorded_internals[name], True):
                found.append(f"the code, defaults or closure of {name!r}, defined by a locked cell, was changed")
        changed = [f"{name}.{key}" for (name, key), snapshot in function_snapshots.items()
                   if not same_internals(module_snapshots[name][key], snapshot, name == "genlib.grading")]
        if changed:
            found.append(f"the code, defaults or closure of {changed[0]} was changed")
        if _function_modes() or _dispatch_modes():
            found.append("a torch function or dispatch mode was left on")
        return found

    def check(nonce):
        message = _dumps({"nonce": nonce, "problems": problems()})
        return message + " " + _new(key, message.encode(), "sha256").hexdigest()

    return mark, record, check, genlib.grading._record_begin, genlib.grading._record_take
