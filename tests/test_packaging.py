"""setup.py's declared ranges include the tested stack that tools/setup_env.sh installs,
so ``pip install -e .`` next to that stack (or a user's MMAction2 within the ranges)
changes nothing it does not have to."""
import ast
import importlib.metadata as metadata
import os.path as osp
import platform

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..'))


def _setup_kwargs() -> dict:
    tree = ast.parse(open(osp.join(ROOT, 'setup.py')).read())
    values = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.List):
            values[node.targets[0].id] = ast.literal_eval(node.value)
        if isinstance(node, ast.Call) and getattr(node.func, 'id', '') == 'setup':
            for kw in node.keywords:
                if isinstance(kw.value, ast.Name):
                    values[kw.arg] = values[kw.value.id]
                else:
                    try:
                        values[kw.arg] = ast.literal_eval(kw.value)
                    except ValueError:
                        pass
    return values


def test_installed_stack_satisfies_setup_ranges():
    kwargs = _setup_kwargs()
    requirements = [Requirement(r) for r in kwargs['install_requires']]
    names = {r.name.lower() for r in requirements}
    assert {'torch', 'mmengine', 'mmcv', 'mmaction2', 'mmdet', 'numpy'} <= names
    for req in requirements:
        version = metadata.version(req.name)
        # local labels such as 2.13.0+cpu satisfy the public ranges
        assert req.specifier.contains(version.split('+')[0], prereleases=True), \
            f'setup.py requires {req}, the tested stack has {req.name} {version}'
    assert platform.python_version() in SpecifierSet(kwargs['python_requires'])


def test_installed_metadata_matches_setup():
    # the editable install's metadata carries the same requirements (it is re-made by
    # tools/setup_env.sh whenever setup.py changes: setup.py is in its stamp)
    declared = {str(Requirement(r)) for r in _setup_kwargs()['install_requires']}
    installed = {str(Requirement(r)) for r in metadata.requires('losa_plugin') or []
                 if 'extra ==' not in r}
    assert installed == declared
