"""Edit a plan file and seal it again, as a hand edit that also fixed the
checksum would (format/PlanChecksum.h): for tests of what densenet-run's
verifier refuses behind the checksum.

    python3 scripts/edit_plan.py PLAN OUT 'STATEMENT'

STATEMENT is Python run with the plan as `p` (a dict), e.g.
    'p["loss_scale"] = None'
The checksum is FNV-1a of the compact JSON without it, in file order, which
is what json.dumps(separators=(",", ":"), ensure_ascii=False) writes."""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fnv1a import fnv1a64  # noqa: E402


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    source, target, statement = sys.argv[1:]
    with open(source, encoding="utf-8") as f:
        text = f.read()
    plan = json.loads(text)
    # The checksum must reproduce before an edit, or the reseal proves nothing.
    sealed = plan.pop("checksum")
    compact = json.dumps(plan, separators=(",", ":"), ensure_ascii=False)
    if sealed != "fnv1a64:%016x" % fnv1a64(compact):
        sys.exit(f"{source}: its checksum does not reproduce in Python; "
                 "edit_plan.py cannot reseal it")
    exec(statement, {"p": plan})
    compact = json.dumps(plan, separators=(",", ":"), ensure_ascii=False)
    plan["checksum"] = "fnv1a64:%016x" % fnv1a64(compact)
    with open(target, "w", encoding="utf-8") as f:
        json.dump(plan, f, indent=1, ensure_ascii=False)


if __name__ == "__main__":
    main()
