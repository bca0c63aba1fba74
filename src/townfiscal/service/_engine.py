"""The computing side of the service: requests parsed, solved and serialised.

An :class:`Engine` does all of a request's work that costs CPU: it resolves the policy and
the towns, structures the constraints and the objective, allocates, and encodes the row to
store and the response body. The service runs one engine in each worker process
(``worker_processes``, by default one per core; see :mod:`townfiscal.service._pool`) or, with
``worker_processes = 0``, one engine in threads of the server process. Either way the event
loop only routes requests, inserts rows and moves bytes.

What crosses to a worker process and back is picklable and small to pickle: requests are
attrs classes of plain values; results are :class:`Created` (row and body already encoded
as text and bytes), bytes, or dicts; the library's errors travel as :class:`Carried` and are
raised again in the server process with the same messages and problems.
"""

from __future__ import annotations

import math
import os
import signal
import tempfile
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, cast

import attrs
import numpy as np
from litestar.serialization import encode_json

from townfiscal._errors import Conflict, InfeasibleError, Problem, ValidationError
from townfiscal._version import __version__
from townfiscal.optimize import (
    Cap,
    CapacityFloor,
    Floor,
    GroupTotal,
    GrowthCap,
    HoldHarmless,
    MaxMin,
    MinDeviation,
    MinShortfall,
    NeedOrder,
    Proportional,
    Rounding,
    TierOrder,
    WeightedObjective,
)
from townfiscal.optimize._allocation import Allocation, allocate
from townfiscal.policy import get_policy, list_policies
from townfiscal.service._codec import Codec
from townfiscal.service._compute import (
    Inputs,
    amounts_by_code,
    check_columns,
    check_fund,
    data_hash,
    eligibility_result,
    example_towns,
    formula_result,
    fund_range_result,
    records,
    resolve,
)
from townfiscal.service._models import (
    AllocationCreated,
    AllocationRequest,
    EligibilityRequest,
    FormulaRequest,
    FundRangeRequest,
)
from townfiscal.service._store import StoredAllocation, encode_row, utc_now

__all__ = [
    "DEADLINE",
    "WORKER_NICENESS",
    "Carried",
    "Created",
    "DeadlineExceeded",
    "Engine",
    "Method",
    "NotReproducible",
    "RunRef",
    "UnknownTown",
    "common",
    "created_body",
    "default_codec",
    "in_worker",
    "jsonable",
    "links",
    "start_worker",
    "warm",
]

Method = Literal["create", "explain", "workbook", "eligibility", "formula", "fund_range"]
"""The engine's entry points, by name (what a worker process is asked to run)."""


DEADLINE = "deadline"
"""The kind of :class:`Carried` a request interrupted at its deadline comes back as."""


class DeadlineExceeded(BaseException):
    """The request's deadline passed while a worker computed it.

    Raised by the alarm of a worker process into whatever Python code runs; a
    ``BaseException`` (as ``KeyboardInterrupt``), so that no ``except Exception`` on the way
    can swallow it.
    """


def default_codec() -> Codec:
    """The codec of the library's constraint and objective catalogue."""
    constraints: dict[str, type] = {
        cls.__name__: cls
        for cls in (
            HoldHarmless,
            GrowthCap,
            Floor,
            Cap,
            NeedOrder,
            TierOrder,
            GroupTotal,
            CapacityFloor,
            Rounding,
        )
    }
    objectives: dict[str, type] = {
        cls.__name__: cls for cls in (Proportional, MinDeviation, MaxMin, MinShortfall)
    }
    return Codec(constraints, objectives, WeightedObjective)


def jsonable(value: Any) -> Any:
    """*value* with numpy scalars as Python numbers and NaN/±inf as ``None``, recursively."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def links(run_id: str) -> dict[str, str]:
    """Where a run's views are."""
    return {
        "self": f"/allocations/{run_id}",
        "explain": f"/allocations/{run_id}/explain/{{code}}",
        "workbook": f"/allocations/{run_id}.xlsx",
    }


def common(run: StoredAllocation) -> dict[str, Any]:
    """The fields every view of a stored run shares."""
    return {
        "id": run.id,
        "created": run.created,
        "policy": run.policy,
        "policy_hash": run.policy_hash,
        "data_hash": run.data_hash,
        "fund": run.fund,
        "total": run.total,
        "status": str(run.result.get("status", "optimal")),
    }


def created_body(run: StoredAllocation) -> bytes:
    """The ``201`` body of a run (also the answer to a repeated ``Idempotency-Key``)."""
    # Plain values of the schema's shape, encoded as they are (no conversion per request).
    body = AllocationCreated(
        **common(run),
        amounts=run.result["amounts"],
        provenance=cast(Any, run.provenance),
        links=cast(Any, links(run.id)),
    )
    return encode_json(body)


@attrs.frozen(eq=False)
class Parsed:
    """A request resolved: inputs, constraint and objective objects, and its stored form."""

    inputs: Inputs
    constraints: list[Any]
    objective: Any
    request: dict[str, Any]


@attrs.frozen
class Created:
    """A new run, computed and encoded: the row to store and the ``201`` body (JSON)."""

    id: str
    row: dict[str, Any]
    body: bytes


@attrs.frozen
class RunRef:
    """What re-solving a stored run needs: its request and the amounts to check against."""

    id: str
    request: dict[str, Any]
    amounts: dict[str, int]
    library_version: str

    @classmethod
    def of(cls, run: StoredAllocation) -> RunRef:
        """The reference of a stored run."""
        return cls(run.id, run.request, run.result["amounts"], run.library_version)


class NotReproducible(Exception):
    """This version of the library gives a stored run different amounts (HTTP 409)."""


class UnknownTown(LookupError):
    """The town asked about is not in the allocation (HTTP 404)."""


class Carried(Exception):
    """A :class:`ValidationError` or :class:`InfeasibleError` on its way out of a worker.

    Those errors build their message in ``__init__`` from keyword arguments that pickling
    does not pass again; this carries what they were built from instead.
    """

    def __init__(self, kind: str, items: list[Any], label: str) -> None:
        super().__init__(kind, items, label)
        self.kind, self.items, self.label = kind, items, label

    @classmethod
    def of(cls, exc: ValidationError | InfeasibleError) -> Carried:
        """Carry *exc*."""
        if isinstance(exc, ValidationError):
            return cls("validation", list(exc.problems), exc.what)
        return cls("infeasible", list(exc.details), str(exc).splitlines()[0])

    def rebuild(self) -> ValidationError | InfeasibleError:
        """The error as it was raised in the worker."""
        if self.kind == "validation":
            problems: list[Problem] = self.items
            return ValidationError(problems, what=self.label)
        details: list[Conflict] = self.items
        return InfeasibleError(details, headline=self.label)


class Engine:
    """Parse, solve, serialise: the work of the service's computing endpoints.

    Parameters
    ----------
    solve_time_limit:
        Seconds the solver may spend on one allocation.
    cache_size:
        Solved allocations kept for ``explain`` and the workbook; older ones are re-solved
        from the stored request (and checked against the stored amounts).
    """

    def __init__(self, solve_time_limit: float, cache_size: int) -> None:
        self.solve_time_limit = solve_time_limit
        self.cache_size = cache_size
        self.codec = default_codec()
        self._cache: OrderedDict[str, Allocation] = OrderedDict()
        self._lock = threading.Lock()
        self._local = threading.local()

    def within(self, budget: float, func: Callable[..., Any], *args: Any) -> Any:
        """``func(*args)`` with the solver's time limit cut to *budget* seconds (what is
        left of the request's deadline) for every solve it makes."""
        self._local.end = time.monotonic() + budget
        try:
            return func(*args)
        finally:
            self._local.end = None

    def time_limit(self) -> float:
        """Seconds the next solve may take: the solver's limit, or what is left of the
        request's deadline when that is less.

        Raises
        ------
        DeadlineExceeded
            When nothing is left.
        """
        end: float | None = getattr(self._local, "end", None)
        if end is None:
            return self.solve_time_limit
        left = end - time.monotonic()
        if left <= 0:
            raise DeadlineExceeded
        return min(self.solve_time_limit, left)

    # --- parse and solve ---------------------------------------------------------------

    def parse(self, req: AllocationRequest) -> Parsed:
        """Resolve policy, towns, constraints and objective, every problem reported at once.

        Raises
        ------
        ValidationError
            Listing the problems of every part of the request.
        """
        problems: list[Problem] = []
        constraints: list[Any] = []
        objective: Any = None
        try:
            constraints = self.codec.constraints(req.constraints)
        except ValidationError as exc:
            problems.extend(exc.problems)
        if req.objective is not None:
            try:
                objective = self.codec.objective(req.objective)
            except ValidationError as exc:
                problems.extend(exc.problems)
        check_fund(req.fund, problems)
        formula_req = FormulaRequest(
            policy=req.policy, changes=req.changes, towns=req.towns, unit=req.unit, fund=None
        )
        inputs = resolve(formula_req, what="allocation request", extra=problems)
        check_columns(inputs.towns, constraints, objective, what="allocation request")
        stored = {
            "policy": req.policy,
            "changes": req.changes,
            "fund": req.fund,
            "unit": req.unit,
            "towns": req.towns,
            "constraints": [self.codec.to_json(c) for c in constraints],
            "objective": None if objective is None else self.codec.to_json(objective),
        }
        return Parsed(inputs, constraints, objective, jsonable(stored))

    def solve(self, parsed: Parsed, fund: int | None) -> Allocation:
        """Allocate under the service's time limit.

        Raises
        ------
        ValidationError, InfeasibleError
            From the allocator (bad constraint arguments; constraints that cannot hold).
        SolverError
            When the solver fails or runs out of time without an answer.
        """
        return allocate(
            parsed.inputs.towns,
            parsed.inputs.policy,
            fund=fund,
            constraints=parsed.constraints,
            objective=parsed.objective,
            time_limit=self.time_limit(),
        )

    def _remember(self, run_id: str, alloc: Allocation) -> None:
        if self.cache_size == 0 or _weight(alloc) > MAX_CACHED_WEIGHT:
            return
        with self._lock:
            self._cache[run_id] = alloc
            self._cache.move_to_end(run_id)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)

    # --- the entry points --------------------------------------------------------------

    def create(self, req: AllocationRequest) -> Created:
        """Parse and solve one allocation run; its row and its ``201`` body, encoded."""
        parsed = self.parse(req)
        alloc = self.solve(parsed, req.fund)
        provenance = jsonable(dict(alloc.provenance))
        provenance["status"] = alloc.status
        amounts = amounts_by_code(alloc.amounts)
        result = {  # records() and amounts_by_code() give plain JSON values already
            "status": alloc.status,
            "objective_value": jsonable(alloc.objective_value),
            "objective_unit": alloc.objective_unit,
            "amounts": amounts,
            "towns": records(alloc.to_frame()),
            "shadow_prices": records(alloc.shadow_prices),
        }
        run = StoredAllocation(
            id=uuid.uuid4().hex,
            created=utc_now(),
            policy=parsed.inputs.policy.id,
            policy_hash=parsed.inputs.policy.hash,
            data_hash=str(provenance.get("data_hash") or data_hash(parsed.inputs.towns)),
            fund=int(alloc.fund),
            total=int(alloc.amounts.sum()),
            library_version=__version__,
            request=parsed.request,
            provenance=provenance,
            result=result,
        )
        self._remember(run.id, alloc)
        return Created(run.id, encode_row(run), created_body(run))

    def allocation(self, ref: RunRef) -> Allocation:
        """The solved allocation of a stored run: from memory, or re-solved and checked.

        Raises
        ------
        NotReproducible
            When this version of the library no longer gives the stored amounts.
        """
        with self._lock:
            cached = self._cache.get(ref.id)
        if cached is not None:
            return cached
        stored = ref.request
        req = AllocationRequest(
            policy=stored["policy"],
            changes=stored.get("changes"),
            towns=stored.get("towns"),
            unit=stored.get("unit", "yuan"),
            fund=stored.get("fund"),
            constraints=stored.get("constraints", []),
            objective=stored.get("objective"),
        )
        alloc = self.solve(self.parse(req), req.fund)
        if amounts_by_code(alloc.amounts) != ref.amounts:
            raise NotReproducible(
                f"allocation {ref.id} was made with townfiscal {ref.library_version}; "
                "re-solving its stored request here gives different amounts, so it cannot "
                "be explained or exported by this version (its stored amounts and "
                "provenance are still at GET /allocations/{id})"
            )
        self._remember(ref.id, alloc)
        return alloc

    def explain(self, ref: RunRef, code: str) -> dict[str, Any]:
        """How one town's amount came about, as JSON values and as text.

        Raises
        ------
        UnknownTown
            When *code* is not a town of the allocation.
        """
        alloc = self.allocation(ref)
        try:
            trace = alloc.explain(code)
        except KeyError:
            raise UnknownTown(
                f"town {code!r} is not among the {len(alloc.amounts):,} towns of allocation "
                f"{ref.id}"
            ) from None
        out: dict[str, Any] = jsonable(trace.to_dict())
        out["text"] = str(trace)
        return out

    def workbook(self, ref: RunRef) -> bytes:
        """The run's Excel workbook, as bytes."""
        alloc = self.allocation(ref)
        with tempfile.TemporaryDirectory(prefix="townfiscal-") as tmp:
            path = Path(tmp) / f"allocation-{ref.id}.xlsx"
            alloc.to_excel(path)
            return path.read_bytes()

    def eligibility(self, req: EligibilityRequest) -> bytes:
        """``POST /eligibility``'s body, encoded."""
        return encode_json(eligibility_result(req))

    def formula(self, req: FormulaRequest) -> bytes:
        """``POST /formula``'s body, encoded."""
        return encode_json(formula_result(req))

    def fund_range(self, req: FundRangeRequest) -> bytes:
        """``POST /fund-range``'s body, encoded."""
        return encode_json(fund_range_result(req, self.codec.constraints(req.constraints)))

    def entry(self, method: Method) -> Callable[..., Any]:
        """The entry point called *method*."""
        entries: dict[str, Callable[..., Any]] = {
            "create": self.create,
            "explain": self.explain,
            "workbook": self.workbook,
            "eligibility": self.eligibility,
            "formula": self.formula,
            "fund_range": self.fund_range,
        }
        return entries[method]


MAX_CACHED_WEIGHT = 2_000_000
"""Allocations larger than this (towns × (constraints + 1)) are not kept in memory: an
explain or workbook of one re-solves it (within its own deadline) rather than pin its model."""


def _weight(alloc: Allocation) -> int:
    constraints = alloc.provenance.get("constraints") or ()
    return len(alloc.amounts) * (len(constraints) + 1)


# --- in a worker process ---------------------------------------------------------------


def warm() -> None:
    """Load what every request may need and keeps: the example towns and the policies."""
    for policy_id in list_policies():
        get_policy(policy_id)
    example_towns()
    default_codec()

_engine: Engine | None = None


WORKER_NICENESS = 5
"""How much lower a worker's scheduling priority is than the server process's (Unix)."""


def start_worker(solve_time_limit: float, cache_size: int) -> None:
    """Set up a worker process: its engine; Ctrl-C is left to the server, which stops it.

    The worker runs at a lower priority (:data:`WORKER_NICENESS`) than the server process:
    when every core is computing, the event loop still gets one as soon as it has a request
    to route or an answer to send, instead of waiting its turn behind the solves (which
    would leave the workers without their next request).
    """
    global _engine
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(os, "nice"):
        os.nice(WORKER_NICENESS)
    _engine = Engine(solve_time_limit, cache_size)


def _alarm(signum: int, frame: Any) -> None:
    raise DeadlineExceeded


def in_worker(method: Method | Callable[..., Any], budget: float, *args: Any) -> Any:
    """Run *method* of this worker's engine within *budget* seconds; the library's errors
    come back as :class:`Carried`, and so does running out of time.

    An alarm (``SIGALRM``) interrupts the Python code running at the deadline, whatever it
    is; code deep in a compiled library sees it only when it returns, and the server kills
    the worker if that takes too long. *method* may also be a picklable function of *args*,
    run the same way.
    """
    if _engine is None:
        raise RuntimeError("start_worker() has not run in this process")
    func = method if callable(method) else _engine.entry(method)
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, max(budget, 1e-3))
    try:
        return _engine.within(budget, func, *args)
    except (ValidationError, InfeasibleError) as exc:
        raise Carried.of(exc) from None
    except DeadlineExceeded:
        raise Carried(DEADLINE, [], f"deadline of {budget:.3g} s") from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
