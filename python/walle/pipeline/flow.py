"""The Python API to declare a dataflow: a named chain of operator stages.

    views = (p.flow("item_views")
               .filter("page_enter|page_leave(page=item)")
               .key_by("item")
               .window(Session(start="page_enter", end="page_leave"))
               .aggregate(cat=Last("args.cat"))
               .emit())

A flow reads the validated events (``source="events"``) or the output of another flow, and
stages apply in the order they are chained.  ``aggregate`` after ``window`` aggregates per key
and window; without a window it keeps a running aggregate per key.  ``join`` pairs this flow's
records with another keyed flow's.  :meth:`Pipeline.query` reads a flow's last aggregate.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .aggregates import Aggregate
from .errors import PatternError
from .fields import getter
from .join import JoinOp
from .operators import EmitOp, FilterOp, KeyByOp, MapOp, Operator, StatefulOp
from .pattern import compile_condition
from .process import ProcessOp
from .windows import RunningAggOp, Window, WindowAggOp, check_window

if TYPE_CHECKING:
    from .pipeline import Pipeline

EmitTarget = str | Callable[[Any], None]


class Flow:
    """A chain of stages; build it with the methods below, each of which returns the flow."""

    def __init__(self, pipeline: Pipeline, name: str, source: str = "events") -> None:
        self.pipeline = pipeline
        self.name = name
        self.source = source
        self.stages: list[tuple[str, Any]] = []
        self._window: Window | None = None
        self.ops: list[Operator] = []

    def _stage(self, kind: str, arg: Any) -> Flow:
        self.pipeline._check_not_started(f"flow {self.name!r}")
        self.stages.append((kind, arg))
        return self

    def filter(self, pred: str | Callable[[Any], bool]) -> Flow:
        """Keep records for which ``pred`` is true; a str is a one-step condition such as
        ``"click|view(page=home, args.price>10)"``."""
        if isinstance(pred, str):
            pred = compile_condition(pred, f"flow {self.name!r}: filter")
        return self._stage("filter", pred)

    def map(self, fn: Callable[[Any], Any] | dict[str, str]) -> Flow:
        """Transform each record (None drops it); a dict ``{out: field path}`` projects fields."""
        if isinstance(fn, dict):
            gets = [(out, getter(path)) for out, path in fn.items()]
            return self._stage("map", lambda r: {out: g(r) for out, g in gets})
        return self._stage("map", fn)

    def key_by(self, key: str | Callable[[Any], Any]) -> Flow:
        """Group records by a field path, a quoted constant (``"'user'"``: one group for
        all records) or a function of the record."""
        if isinstance(key, str) and len(key) >= 2 and key[0] == key[-1] and key[0] in "'\"":
            const = key[1:-1]
            return self._stage("key_by", lambda r: const)
        return self._stage("key_by", getter(key) if isinstance(key, str) else key)

    def window(self, window: Window) -> Flow:
        """Window the next ``aggregate`` (CountWindow, Tumbling, Sliding or Session)."""
        check_window(window, f"flow {self.name!r}")
        self._window = window
        return self

    def aggregate(self, lateness: float = 0.0, uid: str | None = None,
                  ttl: float | None = None, max_keys: int | None = None,
                  late: EmitTarget | None = None, **aggs: Aggregate) -> Flow:
        """Aggregate per key (and window, if one was set): ``aggregate(n=Count(), ...)``.
        ``uid`` names the operator's stored state (default ``<flow>.aggregate``); keep it
        when renaming the flow, so that the new version finds the state.  ``ttl`` (seconds
        of event time after a key's last record) and ``max_keys`` bound the state: such keys
        are dropped, their open windows emitted first (counted in ``stats()["evicted"]``).
        ``late`` is the side output of records that came after their window closed (an emit
        target, as for :meth:`emit`; they get ``{"key", "ts", "record"}``)."""
        if ttl is not None and not ttl > 0:
            raise PatternError(f"flow {self.name!r}: aggregate ttl must be > 0, got {ttl!r}")
        if max_keys is not None and not (isinstance(max_keys, int) and max_keys >= 1):
            raise PatternError(f"flow {self.name!r}: aggregate max_keys must be an int >= 1, "
                               f"got {max_keys!r}")
        if not aggs:
            raise PatternError(f"flow {self.name!r}: aggregate needs at least one aggregation")
        for name, agg in aggs.items():
            if not isinstance(agg, Aggregate):
                raise PatternError(f"flow {self.name!r}: aggregate {name!r} is not an "
                                   f"Aggregate (got {type(agg).__name__})")
        window, self._window = self._window, None
        return self._stage("aggregate", (window, aggs, lateness, ttl, max_keys, late, uid))

    def process(self, fn: Callable[[Any, Any], None],
                on_timer: Callable[[Any], None] | None = None, uid: str | None = None,
                ttl: float | None = None, max_keys: int | None = None) -> Flow:
        """A user operator with keyed state and event-time timers (after ``key_by``):
        ``fn(ctx, record)``, and ``on_timer(ctx)`` when a timer set by ``ctx.timer(at)``
        comes due (see :mod:`walle.pipeline.process`).  ``uid`` (default
        ``<flow>.process``), ``ttl`` and ``max_keys`` as for :meth:`aggregate`."""
        if not callable(fn) or (on_timer is not None and not callable(on_timer)):
            raise PatternError(f"flow {self.name!r}: process needs functions")
        return self._stage("process", (fn, on_timer, ttl, max_keys, uid))

    def join(self, other: Flow | str, within: float, uid: str | None = None) -> Flow:
        """Join with another keyed flow: records with the same key at most ``within`` seconds
        apart produce ``{"key", "ts", "left", "right"}``.  ``uid`` as for :meth:`aggregate`
        (default ``<flow>.join``)."""
        name = other.name if isinstance(other, Flow) else other
        return self._stage("join", (name, within, uid))

    def emit(self, target: EmitTarget = "uplink") -> Flow:
        """Send records to ``"uplink"`` (the cloud), ``"task:NAME"`` or a callable."""
        return self._stage("emit", target)

    # -- compilation ------------------------------------------------------------------------

    def build(self, make_emit: Callable[[str, EmitTarget], Callable[[Any], None]]
              ) -> list[Operator]:
        """Instantiate the operators and chain them; ``make_emit`` resolves emit targets.
        ``join_inputs`` then lists (other flow, join operator) for the pipeline to wire."""
        if self._window is not None:
            raise PatternError(f"flow {self.name!r}: window() must be followed by aggregate()")
        ops: list[Operator] = []
        self.join_inputs: list[tuple[str, JoinOp]] = []
        stages = self.stages or [("map", lambda r: r)]   # an empty flow passes records on
        seen: dict[str, int] = {}
        for i, (kind, arg) in enumerate(stages):
            # Stable uid: the flow and the kind of stage (numbered from the second of a kind),
            # not the position, so that adding a filter or map keeps the state's name.
            if kind in ("aggregate", "join", "process"):
                seen[kind] = seen.get(kind, 0) + 1
                op_name = arg[-1] or (f"{self.name}.{kind}" if seen[kind] == 1
                                      else f"{self.name}.{kind}#{seen[kind]}")
            if kind == "filter":
                op: Operator = FilterOp(arg)
            elif kind == "map":
                op = MapOp(arg)
            elif kind == "key_by":
                op = KeyByOp(arg)
            elif kind == "aggregate":
                window, aggs, lateness, ttl, max_keys, late, _ = arg
                op = (WindowAggOp(op_name, window, aggs, lateness) if window is not None
                      else RunningAggOp(op_name, aggs))
                op.bound(ttl, max_keys)
                if late is not None and isinstance(op, WindowAggOp):
                    op.late_out = make_emit(f"{self.name}.{i}.late", late)
                op.signature = ", ".join([repr(window)] + [f"{n}={a.describe()}"
                                                           for n, a in aggs.items()])
            elif kind == "process":
                fn, on_timer, ttl, max_keys, _ = arg
                op = ProcessOp(op_name, fn, on_timer)
                op.signature = "process" + (" with timers" if on_timer else "")
                op.bound(ttl, max_keys)
            elif kind == "join":
                op = JoinOp(op_name, arg[1])
                self.join_inputs.append((arg[0], op))
            else:
                op = EmitOp(make_emit(f"{self.name}.{i}", arg))
            if isinstance(op, StatefulOp):
                op.flow = self.name
                op.legacy_name = f"{self.name}.{i}.{kind}"   # schema-1 stores used positions
            if ops:   # a join's own flow feeds its left side
                ops[-1].downstream.append(op.push)
            ops.append(op)
        self.ops = ops
        return ops

    @property
    def head(self) -> Callable[[float, Any, Any], None] | None:
        """The push function of the first operator (None for an empty flow)."""
        return self.ops[0].push if self.ops else None

    def tail_push(self, push: Callable[[float, Any, Any], None]) -> None:
        """Subscribe ``push`` to this flow's output."""
        if self.ops:
            self.ops[-1].downstream.append(push)

    def last_stateful(self) -> StatefulOp | None:
        """The flow's last aggregate or join (what :meth:`Pipeline.query` reads)."""
        for op in reversed(self.ops):
            if isinstance(op, StatefulOp):
                return op
        return None
