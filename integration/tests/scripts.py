"""Load a repository script that has no .py suffix (docs/gen, patches/sync, …) as a module, for its tests."""
import importlib.machinery
import importlib.util
import os

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load_script(relpath: str, name: str):
    loader = importlib.machinery.SourceFileLoader(name, os.path.join(REPO, relpath))
    spec = importlib.util.spec_from_loader(name, loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod
