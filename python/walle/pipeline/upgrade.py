"""Checking stored operator state against the declared flows at start (version upgrades).

Every stateful operator (aggregate, join) stores its state under a stable uid: the flow name
and the kind of stage (``clicks.aggregate``; ``clicks.aggregate#2`` for a second one), or the
``uid=`` given to :meth:`Flow.aggregate` / :meth:`Flow.join`.  Its *signature* (window and
aggregate definitions) is stored next to it.  At start:

- an operator whose signature changed cannot load the old state: StateMismatchError naming the
  operator, unless ``upgrade={uid: "drop"}`` (start it empty);
- stored state of a uid that no longer exists is an error too (it would be orphaned
  silently), unless ``upgrade={uid: "drop"}`` (delete it) or ``{uid: "keep"}`` (leave it in the
  store, for a later version that brings the operator back).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from .errors import PipelineError, StateMismatchError
from .operators import StatefulOp
from .store import Store

POLICIES = ("drop", "keep")


def check_policies(upgrade: Mapping[str, str]) -> dict[str, str]:
    """Validate the ``upgrade`` option: {uid: "drop" | "keep"}."""
    for uid, policy in upgrade.items():
        if policy not in POLICIES:
            raise PipelineError(f"upgrade[{uid!r}] must be 'drop' or 'keep', got {policy!r}")
    return dict(upgrade)


def reconcile(store: Store, ops: Mapping[str, StatefulOp], upgrade: Mapping[str, str]) -> None:
    """Apply the rules above; on success record the current signatures in the store."""
    raw = store.get_meta("operators")
    stored: dict[str, str] = json.loads(raw) if raw else {}
    present = store.state_ops()
    if raw is None:      # a schema-1 store: state was named by position in the flow
        for uid, op in ops.items():
            if op.legacy_name in present and op.legacy_name != uid:
                store.rename_state(op.legacy_name, uid)
        present = store.state_ops()
    for uid in sorted(present | set(stored)):
        policy = upgrade.get(uid)
        op = ops.get(uid)
        if op is None:
            if policy == "drop":
                store.drop_state(uid)
                stored.pop(uid, None)
            elif policy != "keep":
                raise StateMismatchError(
                    f"the store holds state of operator {uid!r}, which is not in the flow "
                    f"(removed or renamed?); pass upgrade={{{uid!r}: 'drop'}} to delete it, "
                    f"or 'keep' to leave it for a later version (or give the new operator "
                    f"uid={uid!r})")
        elif uid in stored and stored[uid] != op.signature:
            if policy != "drop":
                raise StateMismatchError(
                    f"operator {uid!r} (flow {op.flow!r}) changed: its stored state was built "
                    f"by [{stored[uid]}], the flow now declares [{op.signature}]; pass "
                    f"upgrade={{{uid!r}: 'drop'}} to start it with empty state")
            store.drop_state(uid)
    stored.update((uid, op.signature) for uid, op in ops.items())
    store.set_meta({"operators": json.dumps(stored, sort_keys=True)})
