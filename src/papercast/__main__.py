"""`python -m papercast` runs the command-line interface."""

from papercast.cli.main import run

if __name__ == "__main__":
    run()
