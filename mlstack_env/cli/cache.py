"""placeholder"""

import typer

cache_app = typer.Typer(name="cache")
