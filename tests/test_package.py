"""Package-level promises: a light import, documented settings and commands, one vocabulary."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("sqlalchemy", "pandas", "numpy", "pyarrow", "fastapi", "httpx", "fsspec", "alembic")


def _imported_after(code: str) -> set[str]:
    probe = f"import sys\n{code}\nprint(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_import_setpoint_loads_no_heavy_dependency() -> None:
    loaded = _imported_after("import setpoint")
    assert not [m for m in HEAVY if m in loaded]


def test_cli_help_loads_no_heavy_dependency() -> None:
    loaded = _imported_after(
        "from setpoint.cli.main import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass"
    )
    assert not [m for m in HEAVY if m in loaded]


def test_every_setting_is_documented() -> None:
    from setpoint.core.config import ENV_VARS

    doc = (ROOT / "docs" / "configuration.md").read_text()
    for var in ENV_VARS:
        assert f"`{var}`" in doc, f"{var} is missing from docs/configuration.md"
    used = set(
        re.findall(
            r"SETPOINT_[A-Z_]+", "".join(p.read_text() for p in (ROOT / "src").rglob("*.py"))
        )
    )
    for var in used:
        assert f"`{var}`" in doc, f"{var} is read by the code but not in docs/configuration.md"


def test_every_command_is_documented() -> None:
    import click

    from setpoint.cli.main import COMMANDS, LazyGroup, cli

    doc = (ROOT / "docs" / "cli.md").read_text()
    ctx = click.Context(cli)
    assert isinstance(cli, LazyGroup)
    for name in COMMANDS:
        cmd = cli.get_command(ctx, name)
        subs = list(cmd.commands) if isinstance(cmd, click.Group) else [None]
        for sub in subs:
            text = f"setpoint {name}" + (f" {sub}" if sub else "")
            assert text in doc, f"`{text}` is missing from docs/cli.md"


def test_every_error_has_a_distinct_code() -> None:
    from setpoint.core import errors

    classes = [errors.SetpointError, *errors._all_subclasses(errors.SetpointError)]
    codes = [c.code for c in classes]
    assert len(codes) == len(set(codes))
    for c in classes:
        assert errors.error_class_for(c.code) is c


def test_every_imported_package_is_declared() -> None:
    """A module the code imports must come from a declared dependency, not arrive by luck
    through a test tool (the README installs without the test extras)."""
    import ast
    import importlib.metadata as md
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

    def names(requirements: list[str]) -> set[str]:
        return {
            re.split(r"[<>=\[ ;]", d, maxsplit=1)[0].lower().replace("_", "-") for d in requirements
        }

    declared = names(project["dependencies"])
    # Extras (PostgreSQL, S3, model frameworks) are imported only where they are used.
    declared |= {n for extra in project["optional-dependencies"].values() for n in names(extra)}
    declared.discard("setpoint")
    through = {"starlette": "fastapi"}  # imported directly, installed by what is declared
    optional = {"polars"}  # accepted as input when the user has it; never installed by setpoint
    modules: set[str] = set()
    for path in (ROOT / "src" / "setpoint").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                modules.add(node.module.split(".")[0])
    third_party = modules - set(sys.stdlib_module_names) - {"setpoint", "__future__"}
    dists = md.packages_distributions()
    undeclared = []
    for module in sorted(third_party - optional):
        names = {d.lower().replace("_", "-") for d in dists.get(module, [module])}
        if not names & declared and through.get(module) not in declared:
            undeclared.append(module)
    assert undeclared == []


def test_every_file_that_is_not_python_ships_in_the_package() -> None:
    """A template, script or migration missing from package-data works from a checkout and
    fails after `pip install .`."""
    import tomllib

    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]
    src = ROOT / "src"
    shipped = {
        f
        for package, patterns in data.items()
        for pattern in patterns
        for f in (src / package.replace(".", "/")).glob(pattern)
    }
    left_out = [
        str(f.relative_to(src))
        for f in (src / "setpoint").rglob("*")
        if f.is_file() and f.suffix not in (".py", ".pyc", ".typed") and f not in shipped
    ]
    assert not left_out, f"add these to [tool.setuptools.package-data]: {left_out}"


def test_the_version_setpoint_reports_is_the_installed_one() -> None:
    """Run records, the server, the web UI and step cache keys read ``setpoint.__version__``
    (`setpoint --version` reads the distribution's): the two must agree."""
    from importlib.metadata import version

    import setpoint

    assert setpoint.__version__ == version("setpoint")
