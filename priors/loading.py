"""Find a prior from a command-line spec: a built-in name, ``module:attr`` or ``path/to/file.py:NAME``."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.util
import json
import re
import sys
from pathlib import Path
from typing import Any

from curvecast.errors import PriorLoadError

__all__ = ["load_prior", "prior_record"]

_BUILT_IN = ("default", "simple")


def _attribute(owner: Any, dotted: str, where: str) -> Any:
    obj = owner
    for part in dotted.split("."):
        if not hasattr(obj, part):
            raise PriorLoadError(f"{where} has no attribute {dotted!r}; check the name after the ':'")
        obj = getattr(obj, part)
    return obj


def _instantiate(obj: Any, spec: str) -> Any:
    """An object with ``sample``; a class or a factory function is called without arguments first."""
    if isinstance(obj, type) or (callable(obj) and not callable(getattr(obj, "sample", None))):
        try:
            obj = obj()
        except Exception as exc:
            raise PriorLoadError(f"{spec!r} is a class or factory, and calling it with no arguments raised {exc!r}; point at a prior object instead") from exc
    if not callable(getattr(obj, "sample", None)):
        raise PriorLoadError(f"{spec!r} is a {type(obj).__name__}, not a prior: a prior has a sample(n_tasks, *, generator, device) method")
    return obj


def _split(spec: str, what: str) -> tuple[str, str]:
    head, sep, name = spec.rpartition(":")
    if not sep or not head or not name:
        if what == "--prior-file":
            raise PriorLoadError(f"--prior-file must look like FILE.py:NAME, got {spec!r}")
        raise PriorLoadError(f"--prior must be a built-in prior ({', '.join(map(repr, sorted(_BUILT_IN)))}) or look like module:attr, got {spec!r}")
    return head, name


def load_prior(spec: str | None = None, *, file: str | None = None) -> Any:
    """The prior a spec names; exactly one of ``spec`` and ``file`` is given.

    Args:
        spec: ``"default"`` or ``"simple"`` (built in), or ``"package.module:attr"`` for an importable prior
            object, prior class or factory function (classes and factories are called with no arguments).
        file: ``"path/to/my_prior.py:NAME"``, the same from a Python file that need not be importable.

    Raises:
        PriorLoadError: the module, file or attribute does not exist, or what it names is not a prior.
    """
    if (spec is None) == (file is None):
        raise PriorLoadError("name a prior either as spec ('default', 'simple', 'module:attr') or as file ('my_prior.py:NAME'), not both or neither")
    if spec is not None:
        if spec in _BUILT_IN:
            from curvecast.priors import named

            return named(spec)
        module_name, attr = _split(spec, "--prior")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise PriorLoadError(f"--prior {spec!r}: cannot import module {module_name!r} ({exc}); is it installed or on PYTHONPATH? For a file, use --prior-file FILE.py:NAME") from None
        return _instantiate(_attribute(module, attr, f"module {module_name!r}"), spec)
    path_text, attr = _split(file, "--prior-file")
    path = Path(path_text)
    if not path.is_file() or path.suffix != ".py":
        raise PriorLoadError(f"--prior-file {file!r}: '{path}' is not an existing .py file")
    # A name stable across processes (hash() is salted per process) and places (the file's bytes, not its
    # path): the prior recorded in a run's config must read the same when the run is resumed, from anywhere.
    module_name = f"_curvecast_prior_file_{hashlib.sha256(path.read_bytes()).hexdigest()[:16]}"
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module  # dataclasses look their module up while the file runs
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(module_name, None)
        raise PriorLoadError(f"--prior-file {file!r}: running '{path}' raised {exc!r}") from exc
    return _instantiate(_attribute(module, attr, f"'{path}'"), file)


def prior_record(prior: Any) -> dict[str, Any]:
    """JSON description of a prior (its class and parameters), kept in a run's ``config.json``."""
    from curvecast.priors.mixture import Mixture

    name = f"{type(prior).__module__}.{type(prior).__qualname__}"
    if isinstance(prior, Mixture):
        return {"class": name, "components": [{"weight": w, **prior_record(p)} for p, w in prior.components]}
    if dataclasses.is_dataclass(prior):
        params = dataclasses.asdict(prior)
    else:
        params = {k: v for k, v in sorted(vars(prior).items()) if not k.startswith("_")} if hasattr(prior, "__dict__") else {}
    # Parameters JSON cannot hold are recorded by their text, less the memory addresses that differ per process.
    return {"class": name, "params": json.loads(json.dumps(params, default=_text))}


def _text(value: Any) -> str:
    return re.sub(r" at 0x[0-9a-fA-F]+", "", repr(value))


def record_difference(saved: dict[str, Any], current: dict[str, Any]) -> str:
    """What differs between two :func:`prior_record` records, in words (for the refusal to resume)."""
    if saved.get("class") != current.get("class"):
        return f"the run was trained on {saved.get('class')}, this prior is {current.get('class')}"
    if "components" in saved or "components" in current:
        theirs, ours = saved.get("components") or [], current.get("components") or []
        if len(theirs) != len(ours):
            return f"the mixture had {len(theirs)} components, this one has {len(ours)}"
        for i, (a, b) in enumerate(zip(theirs, ours)):
            if a != b:
                return f"mixture component {i}: " + ("its weight differs" if a.get("weight") != b.get("weight") else record_difference(a, b))
    theirs, ours = saved.get("params") or {}, current.get("params") or {}
    keys = sorted(k for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k))
    return f"{saved.get('class')}'s parameters {keys} differ"
