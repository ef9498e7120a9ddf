"""The ``zhikong`` command line: one command group per domain.

Every domain package that has a ``cli.py`` with a Typer ``app`` is mounted under the domain's name
(``zhikong db``, ``zhikong geo``, ``zhikong people`` …); ``GROUP_NAMES`` may rename one. Errors are
mapped to messages and exit codes here, in one place.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import typer
from rich.console import Console

import zhikong
from zhikong.core.errors import RowErrors, ZhikongError

app = typer.Typer(
    name="zhikong",
    help="智控 — epidemic prevention and control command platform.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
err_console = Console(stderr=True)

#: package name → command group name, where they differ
GROUP_NAMES: dict[str, str] = {"core": "db", "evaluation": "eval"}


def _mount_domains() -> None:
    for mod in sorted(pkgutil.iter_modules(zhikong.__path__), key=lambda m: m.name):
        if not mod.ispkg:
            continue
        try:
            module = importlib.import_module(f"zhikong.{mod.name}.cli")
        except ModuleNotFoundError as e:
            if e.name == f"zhikong.{mod.name}.cli":
                continue
            raise
        sub = getattr(module, "app", None)
        if isinstance(sub, typer.Typer):
            app.add_typer(sub, name=GROUP_NAMES.get(mod.name, mod.name))
        for extra in getattr(module, "TOP_LEVEL_COMMANDS", ()):
            app.command(extra.__name__.replace("_", "-"))(extra)


_mount_domains()


@app.command()
def demo(
    people: int = typer.Option(5000, help="People in the generated ledger and world."),
    days: int = typer.Option(14, help="Days of simulated movement."),
    seed: int = typer.Option(20200301, help="Random seed (the same seed gives the same world)."),
    serve: bool = typer.Option(True, help="End by serving the web command centre."),
    start: str = typer.Option(
        "", help="First simulated day, YYYY-MM-DD (default: the world ends yesterday)."
    ),
) -> None:
    """Run the main job on the embedded defaults: database, Banan, ledger, world, lake, web."""
    from zhikong.demo import DemoContext, run
    from zhikong.sim.params import parse_start

    run(DemoContext(console=Console(), people=people, days=days, seed=seed, serve=serve,
                    start=parse_start(start) if start else None))


def report_error(exc: ZhikongError) -> int:
    """Print a clear message for ``exc`` and return its exit code."""
    err_console.print(f"[bold red]错误 / error:[/] {exc.message}", highlight=False)
    if isinstance(exc, RowErrors):
        for e in exc.errors[:20]:
            err_console.print(f"  - {e}", highlight=False)
        if len(exc.errors) > 20:
            err_console.print(f"  … {len(exc.errors) - 20} more", highlight=False)
    return exc.exit_code


def main() -> None:
    try:
        rc = app(standalone_mode=False)  # returns the code of a `typer.Exit` raised by a command
    except ZhikongError as exc:
        sys.exit(report_error(exc))
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except Exception as exc:  # click usage errors
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
    if isinstance(rc, int) and rc:
        sys.exit(rc)
