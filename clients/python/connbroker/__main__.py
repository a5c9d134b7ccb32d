"""``python -m connbroker``: command-line tools of the Python client.

Commands:
    doctor ENDPOINT [--driver D] [-o json]   will this process's driver log in?
"""

from __future__ import annotations

import sys

from connbroker import doctor


def main(argv: list[str] | None = None) -> int:
    """Dispatch a command; 2 on usage errors."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stderr if not args else sys.stdout)
        return 2 if not args else 0
    if args[0] == "doctor":
        return doctor.main(args[1:])
    print(f"unknown command {args[0]!r}; commands: doctor", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
