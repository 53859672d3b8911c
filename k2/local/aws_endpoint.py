"""The local AWS endpoint: moto in server mode with K2's patches.

Run as ``python -m k2.local.aws_endpoint --port 4566``.
"""

from __future__ import annotations

import argparse

from moto import server

from k2.local import moto_patches


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=4566)
    args = parser.parse_args(argv)
    moto_patches.apply()
    server.main(["--host", "127.0.0.1", "--port", str(args.port)])


if __name__ == "__main__":
    main()
