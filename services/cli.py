"""The ``waymark`` command: run the platform and do the operators' chores.

    waymark run                     all services in one process (embedded default)
    waymark dlq list GROUP          dead letters of a consumer group (Kafka)
    waymark dlq replay GROUP        republish them to their original topics
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from shared import topics
from shared.settings import Settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="waymark", description="Waymark platform command line.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="run every service in one process on the embedded default")
    dlq = commands.add_parser("dlq", help="dead-letter topics on Kafka").add_subparsers(
        dest="action", required=True
    )
    for action in ("list", "replay"):
        sub = dlq.add_parser(action)
        sub.add_argument("group", help="consumer group, e.g. assessment")
    args = parser.parse_args(argv)

    if args.command == "run":
        from services.platform import run_forever

        run_forever()
    elif args.command == "dlq":
        from shared import dlq as dead_letters

        bootstrap = Settings.from_env(args.group).kafka_bootstrap
        topic = topics.dead_letters(args.group)
        if args.action == "list":
            for entry in dead_letters.list_dead_letters(bootstrap, topic):
                print(json.dumps(entry))
        else:
            print(f"replayed {dead_letters.replay(bootstrap, topic)} dead letters from {topic}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
