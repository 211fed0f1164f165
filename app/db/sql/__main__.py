"""`python -m app.db.sql snapshot <revision>`: copy the SQL sources into the snapshot a new revision installs."""

from __future__ import annotations

import argparse

from app.db.migrate import head_revision
from app.db.sql import SnapshotError, newest_snapshot, read_snapshot, take_snapshot


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m app.db.sql", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    snapshot = commands.add_parser("snapshot", help="copy app/db/sql/*.sql into migrations/sql/<revision>/")
    snapshot.add_argument("revision", help='the new revision\'s id, e.g. "0006_period_cache"')
    snapshot.add_argument(
        "--replace", action="store_true", help="re-take it (only before the revision lands)"
    )
    arguments = parser.parse_args()
    try:
        previous = newest_snapshot(excluding=arguments.revision)
        folder = take_snapshot(arguments.revision, replace=arguments.replace)
    except SnapshotError as error:
        parser.exit(1, f"error: {error}\n")
    print(f"Wrote {folder}. In migrations/versions/<date>_{arguments.revision}.py:\n")
    print("from app.db.sql import install_snapshot\n")
    print(f'revision: str = "{arguments.revision}"')
    if (head := head_revision()) != arguments.revision:
        print(f'down_revision: str | None = "{head}"')
    print()
    print(f'def upgrade() -> None:\n    install_snapshot("{arguments.revision}")\n')
    print(f'def downgrade() -> None:\n    install_snapshot("{previous}")')
    before, after = set(read_snapshot(previous)), set(read_snapshot(arguments.revision))
    for name in sorted(before - after):
        print(
            f"\n{name} is in {previous}'s snapshot, not in the sources: upgrade() must drop what it defines."
        )
    for name in sorted(after - before):
        print(f"\n{name} is new: downgrade() must drop what it defines, after the install.")


if __name__ == "__main__":
    main()
