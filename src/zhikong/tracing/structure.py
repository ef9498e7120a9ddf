"""Exposures from the district's structure: habitual venues seen through the cell feed, and schools.

Two detectors complement the per-source ones of ``pipeline``; both read the prepared tables
(``stay_cell``, ``stay_venue``, ``ledger``, ``idx``) and return the same evidence rows.

* **venue_cell** (source ``cell``) — a person who scanned a venue of an *anchor* kind (a workplace:
  ``rules.anchor_hours``) in the look-back is placed at that venue whenever their cell stays are on
  the venue's nearest tower within the kind's local hours. Such inferred stays meet scanned or
  inferred stays of others at the same venue, so a colleague who forgot to scan on the case's
  working days (or a case who did) is still found, with the venue as the place. Pairs where both
  sides scanned are left to the ``venue_scan`` detector.
* **class** (source ``ledger``, distance ``school``) — a pupil case on an imported class roster
  (``ref_school_roster``, see ``tracing.roster``) has the other pupils of the same class of the
  same school as contacts, ``minutes_per_day`` × school days in the window each (the school rule's
  figure). Runs when the policy's school rule is enabled, at hop 1 and hop 2.
* **school** (source ``ledger``, distance ``school``) — the stand-in for a class roster, for index
  persons no roster lists: see :class:`zhikong.tracing.policy.SchoolRule`. For a rostered pupil it
  adds the schoolmates (found the stand-in's way at the roster's school) whom no roster lists, since
  a roster misses pupils (transfers, unusable ID numbers) and one of them may be in the class.

The nearest tower of a venue comes from the reference tables (``ref_venue``, ``ref_tower``: local
metres), the way the operator's network serves a place.
"""

from __future__ import annotations

from collections.abc import Collection

import pyarrow as pa

from zhikong.engine import QueryEngine
from zhikong.tracing.columns import LOCAL_OFFSET_S
from zhikong.tracing.intervals import by_day, case_of, first_day, others_sql
from zhikong.tracing.policy import Policy

YEAR_S = 31_557_600  # 365.25 days
#: towers are searched within this many metres of a venue (rural spacing is ~3 km)
TOWER_SEARCH_M = 8000


def _midnight(col: str) -> str:
    """Epoch seconds of local midnight of the local day of ``col``."""
    return f"((({col}) + {LOCAL_OFFSET_S}) // 86400) * 86400 - {LOCAL_OFFSET_S}"


def _weekday(col: str) -> str:
    """Local weekday of ``col``, Monday = 0 (1970-01-01 was a Thursday)."""
    return f"(((({col}) + {LOCAL_OFFSET_S}) // 86400) + 3) % 7"


def _kinds(policy: Policy) -> list[str]:
    kinds = set(policy.rules.anchor_hours) | set(policy.rules.visit_kinds)
    if policy.school is not None and policy.school.enabled:
        kinds.add("school")
    return sorted(kinds)


def whole_days(lo_s: int, hi_s: int) -> tuple[int, int]:
    """``(a, b)``: the local midnights bounding the whole local days inside the period ``[lo_s, hi_s)``
    that start after ``lo_s`` (every stay starting on such a day overlaps the period); ``a >= b`` when
    there is none."""
    a = ((lo_s + LOCAL_OFFSET_S) // 86400 + 1) * 86400 - LOCAL_OFFSET_S
    b = ((hi_s + LOCAL_OFFSET_S) // 86400) * 86400 - LOCAL_OFFSET_S
    return a, b


def venue_tower_sql(
    kinds: list[str], towers: str | None, *, venues: str = "ref_venue", towers_ref: str = "ref_tower"
) -> str:
    """The nearest tower (``towers_ref``, within :data:`TOWER_SEARCH_M`) of each venue of ``kinds``
    (``venues``): ``venue_id, kind, unit_code, tower_id, tk``, ``tk`` being the tower's number in
    ``towers(tk, tower_id)`` (null for a tower not there), or the tower id when ``towers`` is None."""
    in_kinds = ", ".join(f"'{k}'" for k in kinds) or "''"
    m = TOWER_SEARCH_M
    dx = "(CAST(v.x AS DOUBLE) - CAST(t.x AS DOUBLE))"
    dy = "(CAST(v.y AS DOUBLE) - CAST(t.y AS DOUBLE))"
    tk = "w.tk" if towers else "q.tower_id"
    tk_join = f"LEFT JOIN {towers} w ON w.tower_id = q.tower_id" if towers else ""
    d2 = f"{dx} * {dx} + {dy} * {dy}"
    # the nearest: the least squared distance, then the least tower id (an aggregation of the
    # pairs: ranking them in a window per venue took several times longer)
    return f"""
        WITH c AS (
          SELECT v.venue_id, v.kind, v.unit_code, t.tower_id, {d2} AS d2
          FROM {venues} v JOIN {towers_ref} t ON ABS(v.x - t.x) < {m} AND ABS(v.y - t.y) < {m}
          WHERE v.kind IN ({in_kinds})),
        q AS (
          SELECT c.venue_id, MIN(c.kind) AS kind, MIN(c.unit_code) AS unit_code, MIN(c.tower_id) AS tower_id
          FROM c JOIN (SELECT venue_id, MIN(d2) AS d2 FROM c GROUP BY venue_id) n
            ON n.venue_id = c.venue_id AND n.d2 = c.d2
          GROUP BY c.venue_id)
        SELECT q.venue_id, q.kind, q.unit_code, q.tower_id, {tk} AS tk FROM q {tk_join}"""


def short_sql(stays: str, towers: str, max_s: int) -> str:
    """The visit rule's short stays: the rows ``(person, tower, start_s, end_s)`` of the stays of
    ``stays(person, place, start_s, end_s)`` on a tower of ``towers(tk)`` whose (person, tower,
    local day of the start) group lasts at most ``max_s`` seconds in all (whole groups)."""
    d0 = _midnight("s.start_s")
    return f"""
        SELECT s.person, s.place AS tower, s.start_s, s.end_s FROM {stays} s
        JOIN (
          SELECT s.person, s.place, {d0} AS d0 FROM {stays} s
          JOIN (SELECT DISTINCT tk FROM {towers}) t ON t.tk = s.place
          GROUP BY s.person, s.place, {d0}
          HAVING SUM(s.end_s - s.start_s) <= {max_s}) g
          ON g.person = s.person AND g.place = s.place AND g.d0 = {d0}"""


def run_breaks_sql(sb: str, stays: str) -> str:
    """The visit rule's run breaks: per short stay of ``sb(person, tower, start_s, end_s, prev_end)``
    (``prev_end``: the end of the previous stay of its (person, tower, local day) group, null for the
    first), ``brk`` 1 when it begins a run of its owner's stays on that tower (the first of its group,
    or a stay of ``stays(person, place, start_s, end_s)`` on another tower starts between the previous
    one's end and its start), else 0. A stay between two stays of one (person, tower, day) group starts
    that day too (a stay ends at or after its start), so the search joins on the day as well: each
    short stay meets its owner's stays of that day only, not of the whole period."""
    return f"""
        SELECT b.person, b.tower, b.start_s, b.end_s,
               CASE WHEN b.prev_end IS NULL OR COUNT(o.person) > 0 THEN 1 ELSE 0 END AS brk
        FROM {sb} b LEFT JOIN {stays} o ON o.person = b.person
          AND {_midnight("o.start_s")} = {_midnight("b.start_s")} AND o.place <> b.tower
          AND o.start_s >= b.prev_end AND o.start_s < b.start_s
        GROUP BY b.person, b.tower, b.start_s, b.end_s, b.prev_end"""


def short_breaks_sql(short: str, stays: str) -> str:
    """:func:`run_breaks_sql` of the short stays ``short(person, tower, start_s, end_s)`` (whole
    (person, tower, day) groups) among the stays ``stays``."""
    lag = f"""(SELECT person, tower, start_s, end_s, LAG(end_s) OVER (
                 PARTITION BY person, tower, {_midnight("start_s")} ORDER BY start_s) AS prev_end
               FROM ({short}) q)"""
    return run_breaks_sql(lag, stays)


def short_runs_sql(short: str, stays: str) -> str:
    """The runs of the short stays ``short(person, tower, start_s, end_s)`` (whole (person, tower,
    day) groups) among the stays ``stays``: each short stay with its run's start and end (``run_s``,
    ``run_e``: the first start and the last end of the run's stays, :func:`run_breaks_sql`). A run
    lies inside one group (the first stay of a group begins a run)."""
    rid = ("SUM(brk) OVER (PARTITION BY person, tower ORDER BY start_s "
           "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)")
    return f"""
        SELECT person, tower, start_s, end_s, MIN(start_s) OVER (PARTITION BY person, tower, rid) AS run_s,
               MAX(end_s) OVER (PARTITION BY person, tower, rid) AS run_e
        FROM (SELECT b.*, {rid} AS rid FROM ({short_breaks_sql(short, stays)}) b) r"""


def prepare(
    engine: QueryEngine,
    policy: Policy,
    *,
    numbered: bool = False,
    period: tuple[int, int] | None = None,
    parts: Collection[str] = (),
) -> None:
    """``venue_tower`` (nearest tower of anchor and school venues), ``anchor_venue`` and
    ``stay_work`` (the workplace detector's venues and stays, :func:`_stay_work`), ``stay_short``
    (the visit rule's short cell stays at visit venues' towers), ``obs_day``
    (local midnights of the days the cell feed or the venue scans have data: the days a school day
    can be counted on) and ``roster_p`` (the class rosters' pupils the ledger knows, as persons:
    person numbers when ``numbered``, the pipeline's ``pidk``, else pseudonyms).

    ``period``: ``stay_cell`` holds the lake's derived stays (``zhikong.tracing.stays``, registered
    as ``dv_*``, with ``dv_pk`` mapping their pseudonym numbers to person numbers, one to one) overlapping
    this period ``[lo, hi)``. Then the derived tables give the days with stays (``dv_days``) and, when
    in ``parts``, the short stays (``dv_short``) of the whole local days inside the period (every
    stay starting on such a day is in ``stay_cell``, so they are the same as computed from it; the
    days at the edges are computed here), and the stays a workplace is inferred from (``dv_anchor``:
    all those ``stay_work`` reads, fewer than half the stays)."""
    person = "k.pk" if numbered else "m.person"
    join = "JOIN pidk k ON k.pid = r.pid" if numbered else ""
    engine.create_table(
        "roster_p",
        f"""SELECT DISTINCT r.school, r.class_name, {person} AS pid FROM ref_school_roster r
            JOIN pmap m ON m.pid = r.pid {join}""",
    )
    days = whole_days(*period) if period is not None else None
    cell_days = f"SELECT {_midnight('start_s')} AS d0 FROM stay_cell"
    if days is not None:
        a, b = days
        cell_days = (f"SELECT d0 FROM dv_days WHERE d0 >= {a} AND d0 < {b} UNION "
                     f"{cell_days} WHERE start_s < {a} OR start_s >= {b}")
    engine.create_table("obs_day", f"{cell_days} UNION SELECT {_midnight('start_s')} AS d0 FROM stay_venue")
    # ``tk``: the tower as the cell stays name it (``stay_cell.place``): its number in ``cell_tower``
    # when ``numbered`` (null for a tower without cell data), else the tower id
    engine.create_table("venue_tower", venue_tower_sql(_kinds(policy), "cell_tower" if numbered else None))
    if policy.rules.visit_kinds:
        _stay_short(engine, policy, days if "short" in parts else None)
    hours = policy.rules.anchor_hours
    engine.register_arrow(
        "anchor_hours",
        pa.table(
            {
                "kind": list(hours),
                "h0_s": [int(h[0] * 3600) for h in hours.values()],
                "h1_s": [int(h[1] * 3600) for h in hours.values()],
            },
            schema=pa.schema([("kind", pa.string()), ("h0_s", pa.int64()), ("h1_s", pa.int64())]),
        ),
    )
    _stay_work(
        engine, period if "anchor" in parts else None, cut=len(set(hours.values())) == 1,
        unknown="default" in hours,
    )


def _stay_work(
    engine: QueryEngine, period: tuple[int, int] | None, *, cut: bool = False, unknown: bool = False
) -> None:
    """``anchor_venue`` and ``stay_work``, what the workplace detector (``venue_cell``) reads.

    ``anchor_venue(vn, venue_id, kind, h0_s, h1_s, tk)``: a number ``vn`` for each venue and kind of
    an anchor kind (in that order) of the venue table (every kind ``stay_venue`` gives a venue, and
    ``default`` for one the table lacks, when ``unknown``: an anchor kind), with the kind's hours and
    the venue's nearest tower (``venue_tower.tk``, null without one).

    ``stay_work(person, place, start_s, end_s, inferred)``: on these numbers (``place`` = ``vn``),
    the scanned stays at anchor venues (``inferred`` 0) and the inferred ones (1): each anchor
    person's cell stays on the nearest tower of the anchor venues they scanned, cut to the kind's
    hours of the stay's start day. So the detector reads one table of integers at both hops, and
    names the places of its evidence only.

    ``period``: ``stay_cell`` holds the lake's derived stays overlapping it, and the anchor stays are
    read from the derived candidates (``dv_anchor``, on pseudonym numbers, mapped by ``dv_pk``); ``cut``:
    every anchor kind has the same hours, so the candidates come cut to them (``a0``, ``a1``: to the
    earliest to the latest of the kinds' hours, the part's ``stays.ANCHOR_COLUMNS``)."""
    venues = "SELECT DISTINCT venue_id, kind FROM ref_venue"
    if unknown:
        venues += " UNION SELECT DISTINCT place, kind FROM stay_venue WHERE kind = 'default'"
    engine.create_table(
        "anchor_venue",
        f"""
        SELECT v.venue_id, v.kind, h.h0_s, h.h1_s, vt.tk,
               ROW_NUMBER() OVER (ORDER BY v.venue_id, v.kind) AS vn
        FROM ({venues}) v
        JOIN anchor_hours h ON h.kind = v.kind
        LEFT JOIN venue_tower vt ON vt.venue_id = v.venue_id""",
    )
    # each anchor person's anchor venues (those they scanned) with the venue's tower and hours
    a = """
        SELECT DISTINCT s.person, v.vn, v.tk, v.h0_s, v.h1_s FROM stay_venue s
        JOIN anchor_venue v ON v.venue_id = s.place AND v.kind = s.kind"""
    d0 = _midnight("c.start_s")
    a0, a1 = f"GREATEST(c.start_s, {d0} + a.h0_s)", f"LEAST(c.end_s, {d0} + a.h1_s)"
    stays, key = "SELECT s.person, s.place AS tk, s.start_s, s.end_s FROM stay_cell s", "person"
    if period is not None:  # the derived candidates, on pseudonym numbers
        cols = "s.start_s, s.end_s"
        if cut:  # as derived, cut to the hours
            cols, a0, a1 = "s.a0, s.a1", "c.a0", "c.a1"
        stays = f"""
          SELECT s.pn, s.tk, {cols} FROM dv_anchor s
          WHERE s.start_s < {period[1]} AND s.end_s > {period[0]}"""
        a = f"SELECT a.*, m.pn FROM ({a}) a JOIN dv_pk m ON m.pk = a.person"
        key = "pn"
    engine.create_table(
        "stay_work",
        f"""
        SELECT s.person, v.vn AS place, s.start_s, s.end_s, 0 AS inferred FROM stay_venue s
        JOIN anchor_venue v ON v.venue_id = s.place AND v.kind = s.kind
        UNION ALL
        SELECT person, place, start_s, end_s, 1 AS inferred FROM (
          SELECT a.person, a.vn AS place, {a0} AS start_s, {a1} AS end_s
          FROM ({stays}) c JOIN ({a}) a ON a.{key} = c.{key} AND a.tk = c.tk) q
        WHERE end_s > start_s""",
    )


def _stay_short(engine: QueryEngine, policy: Policy, days: tuple[int, int] | None) -> None:
    """``stay_short``: the visit rule's short stays (:func:`short_sql`) at the visit venues' towers,
    read from the lake's derived short stays for the whole days ``days`` (see :func:`prepare`)."""
    visit = ", ".join(f"'{k}'" for k in policy.rules.visit_kinds)
    towers = f"(SELECT tk FROM venue_tower WHERE kind IN ({visit}))"
    max_s = int(policy.rules.visit_max_minutes * 60)
    # ``run_s``, ``run_e``: the runs (:func:`short_runs_sql`) derived with the short stays, null where
    # ``prepare_visits`` computes them (the days at the period's edges, or no derived part)
    nulls = "CAST(NULL AS BIGINT) AS run_s, CAST(NULL AS BIGINT) AS run_e"
    # a view where the engine has them: read once (``prepare_visits``), cut to the towers reached
    if days is None:
        short = short_sql("stay_cell", towers, max_s)
        engine.create_view("stay_short", f"SELECT q.*, {nulls} FROM ({short}) q")
        return
    a, b = days
    edge = f"(SELECT person, place, start_s, end_s FROM stay_cell WHERE start_s < {a} OR start_s >= {b})"
    engine.create_view(
        "stay_short",
        f"""
        SELECT m.pk AS person, s.tk AS tower, s.start_s, s.end_s, s.run_s, s.run_e
        FROM dv_short s JOIN dv_pk m ON m.pn = s.pn
        WHERE s.start_s >= {a} AND s.start_s < {b}
        UNION ALL
        SELECT q.*, {nulls} FROM ({short_sql(edge, towers, max_s)}) q""",
    )


def _school_minutes(policy: Policy, ci: str) -> str:
    """Per index row of ``ci`` (case_key, hop, start_s, end_s): ``school_min``, the minutes of the
    window inside school hours on weekdays the lake has data for, each day capped at the policy's
    ``minutes_per_day``; rows without any such minute are dropped (a window over a weekend or past
    the data has no school day)."""
    s = policy.school
    assert s is not None
    h0, h1 = int(s.hours[0] * 3600), int(s.hours[1] * 3600)
    a = f"GREATEST(w.start_s, od.d0 + {h0})"
    b = f"LEAST(w.end_s, od.d0 + {h1})"
    return f"""
        SELECT w.case_key, w.hop, SUM(LEAST({s.minutes_per_day}, ({b} - {a}) / 60.0)) AS school_min
        FROM (SELECT DISTINCT case_key, hop, start_s, end_s FROM {ci}) w
        JOIN obs_day od ON od.d0 + {h1} > w.start_s AND od.d0 + {h0} < w.end_s
        WHERE {_weekday("od.d0")} < 5 AND {b} > {a}
        GROUP BY w.case_key, w.hop"""


def _visit_kinds(policy: Policy) -> tuple[str, str]:
    kinds = ", ".join(f"'{k}'" for k in policy.rules.visit_kinds)
    # ``tk``: the tower as the cell stays name it (see ``prepare``)
    vk = f"SELECT venue_id, kind, tk AS tower_id FROM venue_tower WHERE kind IN ({kinds})"
    sv = f"SELECT person, place AS venue, kind, start_s, end_s FROM stay_venue WHERE kind IN ({kinds})"
    return vk, sv


def prepare_visits(engine: QueryEngine, policy: Policy) -> None:
    """The visit detector's stays, for the index persons registered as ``idx`` (call after
    :func:`prepare` and ``pipeline.register_index``; the detector reads them three times over):

    * ``visit_sc`` — short stays: cell stays of people who spent at most ``visit_max_minutes`` on a
      visit venue's tower that day (a visit, not home or work), only at the towers the detector can
      reach (those of the venues the index persons scanned and those of the index persons' own
      short stays), in whole (person, tower, day) groups;
    * ``visit_ext`` — scanned visits (``rules.visit_kinds``) at the venues the index persons scanned
      in their windows, within the span of those visits (the only ones the detector compares: an
      extended visit ends at most ``visit_max_minutes`` after its scan) with their end: at least the
      kind's dwell
      and, when its owner's phone is on the venue's tower then, until the phone leaves that tower (at
      most ``visit_max_minutes`` after the scan). A scan marks the arrival, and the phone's first
      record on the tower may come up to one cell gap (``cell_gap_minutes``) after it. Leaving is the
      end of the *run* of the owner's short stays on that tower: stays there the same day with no stay
      on another tower between them (records every ~40 minutes split one visit into several stays).
    """
    r = policy.rules
    vk, sv = _visit_kinds(policy)
    mx = int(r.visit_max_minutes * 60)
    tol = int(r.cell_gap_minutes * 60)
    # ``stay_short`` (``prepare``) cut to the towers the detector can reach: those of the venues the
    # index persons scanned (their visits, and others' short stays there) and those of the index
    # persons' own short stays (whole groups, so the same stays; the towers of all their cell stays
    # gave the same rows wherever read, from a scan of every stay)
    engine.create_table(
        "visit_sc",
        f"""
        WITH vk AS ({vk}), sv AS ({sv}),
        it AS (
          SELECT vk.tower_id FROM sv v JOIN idx i ON i.person = v.person JOIN vk ON vk.venue_id = v.venue
          UNION
          SELECT c.tower AS tower_id FROM stay_short c JOIN idx i ON i.person = c.person)
        SELECT c.person, c.tower, c.start_s, c.end_s, c.run_s, c.run_e FROM stay_short c
        JOIN (SELECT DISTINCT vk.tower_id FROM vk JOIN it ON it.tower_id = vk.tower_id) t
          ON t.tower_id = c.tower""",
    )
    # The runs of the short stays come with them (``stay_short.run_s``, ``run_e``: derived with the
    # lake's short stays for the whole days) or are found here where they do not (the days at the
    # period's edges: a run lies inside one day, and those days' stays are all without). Each run
    # once, by its first stay (``run_s`` is the least start of its stays; only the largest end of
    # the runs met counts, so a run met twice would change nothing either).
    engine.create_table(
        "visit_ext",
        f"""
        WITH vk AS ({vk}), sva AS ({sv}),
        iw AS (
          SELECT v.venue, MIN(GREATEST(v.start_s, i.start_s)) AS a0,
                 MAX(LEAST(GREATEST(v.end_s, v.start_s + {mx}), i.end_s)) AS b1
          FROM sva v JOIN idx i ON i.person = v.person
          WHERE GREATEST(v.end_s, v.start_s + {mx}) > i.start_s AND v.start_s < i.end_s
          GROUP BY v.venue),
        sv AS (
          SELECT v.* FROM sva v JOIN iw ON iw.venue = v.venue
          WHERE v.start_s < iw.b1 AND GREATEST(v.end_s, v.start_s + {mx}) > iw.a0),
        pt AS (SELECT DISTINCT v.person, vk.tower_id AS tower FROM sv v JOIN vk ON vk.venue_id = v.venue),
        sc AS (
          SELECT c.* FROM visit_sc c JOIN pt ON pt.person = c.person AND pt.tower = c.tower),
        run AS (
          SELECT person, tower, run_s AS start_s, run_e AS end_s FROM ({short_runs_sql(
              "SELECT person, tower, start_s, end_s FROM sc WHERE run_s IS NULL", "stay_cell")}) r
          WHERE start_s = run_s
          UNION ALL
          SELECT person, tower, run_s AS start_s, run_e AS end_s FROM sc
          WHERE run_s IS NOT NULL AND start_s = run_s)
        SELECT v.person, v.venue, v.kind, v.start_s,
               GREATEST(v.end_s, LEAST(COALESCE(MAX(c.end_s), v.end_s), v.start_s + {mx})) AS end_s,
               CASE WHEN COALESCE(MAX(c.end_s), v.end_s) > v.end_s THEN 1 ELSE 0 END AS extended
        FROM sv v JOIN vk ON vk.venue_id = v.venue
        LEFT JOIN run c ON c.person = v.person AND c.tower = vk.tower_id
          AND c.start_s <= v.start_s + {tol} AND c.end_s > v.start_s
        GROUP BY v.person, v.venue, v.kind, v.start_s, v.end_s""",
    )


def _largest_sum(key: str, values: tuple[int, ...]) -> str:
    """Minutes of the largest of the per-``key`` sums of ``s1 - s0`` in a group (every row's
    ``s1 > s0``, ``key`` one of ``values``): in one aggregation, the figure of summing per key and
    then taking the largest sum (each sum is exact in whole seconds; the largest divided by 60 is
    the largest of the divided)."""
    sums = ", ".join(f"SUM(CASE WHEN {key} = {v} THEN s1 - s0 ELSE 0 END)" for v in values)
    return f"GREATEST({sums}) / 60.0"


def _visit_sql(policy: Policy) -> str:
    """Brief visits seen by one side's scan and the other side's cell stay (``rules.visit_kinds``),
    on the tables of :func:`prepare_visits` (``visit_sc`` short stays, ``visit_ext`` scanned visits
    with their ends): a scanned stay meets the other side's short stay on the venue's tower when that
    side scanned nowhere at the time, and a scanned visit the other side's scanned visit when either
    was extended by its owner's cell stays. (Extended visits on the one-sided meetings too found a few
    more contacts on the fitting world, but their query failed on Spark's 1 GiB driver in the tests.)"""
    r = policy.rules
    vk, sv = _visit_kinds(policy)
    near = ", ".join(f"'{k}'" for k in r.venue_near_kinds) or "''"
    day = f"({_midnight('s0')})"
    return f"""
        WITH vk AS ({vk}), sv AS ({sv}),
        x1 AS (
          SELECT i.case_key, i.hop, i.person, v.venue, v.kind, vk.tower_id,
                 GREATEST(v.start_s, i.start_s) AS a, LEAST(v.end_s, i.end_s) AS b
          FROM idx i JOIN sv v ON v.person = i.person JOIN vk ON vk.venue_id = v.venue
          WHERE v.end_s > i.start_s AND v.start_s < i.end_s),
        e1 AS (
          SELECT x1.case_key, x1.hop, c.person AS contact, x1.venue AS place, x1.kind,
                 GREATEST(x1.a, c.start_s) AS s0, LEAST(x1.b, c.end_s) AS s1
          FROM x1 JOIN visit_sc c ON c.tower = x1.tower_id AND c.start_s < x1.b AND c.end_s > x1.a
          WHERE c.person <> x1.person),
        x2 AS (
          SELECT i.case_key, i.hop, i.person, c.tower, GREATEST(c.start_s, i.start_s) AS a,
                 LEAST(c.end_s, i.end_s) AS b
          FROM idx i JOIN visit_sc c ON c.person = i.person
          WHERE c.end_s > i.start_s AND c.start_s < i.end_s),
        x3 AS (
          SELECT i.case_key, i.hop, i.person, v.venue, v.kind, v.extended,
                 GREATEST(v.start_s, i.start_s) AS a, LEAST(v.end_s, i.end_s) AS b
          FROM idx i JOIN visit_ext v ON v.person = i.person
          WHERE v.end_s > i.start_s AND v.start_s < i.end_s),
        e2 AS (
          SELECT x2.case_key, x2.hop, x2.person AS seen, v.person AS contact, v.venue AS place, v.kind,
                 GREATEST(x2.a, v.start_s) AS s0, LEAST(x2.b, v.end_s) AS s1
          FROM x2 JOIN vk ON vk.tower_id = x2.tower
          JOIN sv v ON v.venue = vk.venue_id AND v.start_s < x2.b AND v.end_s > x2.a
          WHERE v.person <> x2.person),
        e AS (
          SELECT e1.case_key, e1.hop, e1.contact, e1.place, e1.kind, e1.s0, e1.s1, 0 AS both_scanned
          FROM e1 LEFT JOIN stay_venue o ON o.person = e1.contact AND o.start_s < e1.s1 AND o.end_s > e1.s0
          WHERE o.person IS NULL
          UNION ALL
          SELECT e2.case_key, e2.hop, e2.contact, e2.place, e2.kind, e2.s0, e2.s1, 0 AS both_scanned
          FROM e2 LEFT JOIN stay_venue o ON o.person = e2.seen AND o.start_s < e2.s1 AND o.end_s > e2.s0
          WHERE o.person IS NULL
          UNION ALL
          SELECT x3.case_key, x3.hop, o.person AS contact, x3.venue AS place, x3.kind,
                 GREATEST(x3.a, o.start_s) AS s0, LEAST(x3.b, o.end_s) AS s1, 1 AS both_scanned
          FROM x3 JOIN visit_ext o ON o.venue = x3.venue AND o.start_s < x3.b AND o.end_s > x3.a
          WHERE o.person <> x3.person AND x3.extended + o.extended > 0),
        per AS (
          SELECT case_key, hop, contact, place, kind, MIN(s0) AS start_s, MAX(s1) AS end_s,
                 {_largest_sum("both_scanned", (0, 1))} AS minutes
          FROM e WHERE s1 > s0 GROUP BY case_key, hop, contact, place, kind, {day})
        SELECT case_key, hop, contact, 'cell' AS source, place, start_s, end_s, minutes,
               CASE WHEN kind IN ({near}) THEN 'near' ELSE 'same_place' END AS distance
        FROM per"""


def detectors(policy: Policy, *, skip: bool = False) -> dict[str, str]:
    """SQL of the structure detectors, by name (evidence columns as ``pipeline.EVIDENCE_COLUMNS``);
    ``skip``: venue_cell leaves out the pairs of ``idx_skip`` (``pipeline.detect``)."""
    out: dict[str, str] = {}
    r = policy.rules
    if r.anchor_hours:
        near = ", ".join(f"'{k}'" for k in r.venue_near_kinds) or "''"
        day = f"({_midnight('s0')})"
        same_case, cs = (" AND o.cs = x.cs", case_of("i.case_key")) if skip else ("", "")
        # on venue numbers (``stay_work``, ``anchor_venue``: a number stands for a venue and its
        # kind), grouped by it and named with its kind and distance class per evidence row
        out["venue_cell"] = f"""
            WITH x AS (
              SELECT i.case_key, i.hop, i.person, s.place, s.inferred,
                     GREATEST(s.start_s, i.start_s) AS a, LEAST(s.end_s, i.end_s) AS b{cs}
              FROM stay_work s JOIN idx i ON s.person = i.person
              WHERE s.end_s > i.start_s AND s.start_s < i.end_s),
            {others_sql("stay_work", skip=skip)},
            xd AS ({by_day("x", "a", "b")}),
            od AS ({by_day("oc", "start_s", "end_s")}),
            e AS (
              SELECT x.case_key, x.hop, o.person AS contact, x.place, x.inferred * 2 + o.inferred AS combo,
                     GREATEST(x.a, o.start_s) AS s0, LEAST(x.b, o.end_s) AS s1
              FROM xd x JOIN od o ON o.place = x.place AND o.dd = x.dd{same_case}
                AND o.start_s < x.b AND o.end_s > x.a
              WHERE o.person <> x.person AND x.inferred + o.inferred > 0
                AND {first_day("x", "a", "o", "start_s")}),
            per AS (
              SELECT case_key, hop, contact, place, MIN(s0) AS start_s, MAX(s1) AS end_s,
                     {_largest_sum("combo", (1, 2, 3))} AS minutes
              FROM e GROUP BY case_key, hop, contact, place, {day})
            SELECT p.case_key, p.hop, p.contact, 'cell' AS source, v.venue_id AS place, p.start_s, p.end_s,
                   p.minutes, CASE WHEN v.kind IN ({near}) THEN 'near' ELSE 'same_place' END AS distance
            FROM per p JOIN anchor_venue v ON v.vn = p.place"""
    if r.visit_kinds:
        out["venue_visit"] = _visit_sql(policy)
    s = policy.school
    if s is not None and s.enabled:
        out["class"] = f"""
            WITH r AS (SELECT school, class_name, pid FROM roster_p),
            ci AS (
              SELECT i.case_key, i.hop, i.person, i.start_s, i.end_s, r.school, r.class_name
              FROM idx i JOIN r ON r.pid = i.person),
            sm AS ({_school_minutes(policy, "ci")})
            SELECT ci.case_key, ci.hop, m.pid AS contact, 'ledger' AS source,
                   'class:' || ci.school || '/' || ci.class_name AS place, ci.start_s, ci.end_s,
                   sm.school_min AS minutes, 'school' AS distance
            FROM ci JOIN sm ON sm.case_key = ci.case_key AND sm.hop = ci.hop
            JOIN r m ON m.school = ci.school AND m.class_name = ci.class_name
            WHERE m.pid <> ci.person"""
        a0, a1 = s.age[0] * YEAR_S, (s.age[1] + 1) * YEAR_S
        h0, h1 = int(s.hours[0] * 3600), int(s.hours[1] * 3600)
        d0 = _midnight("c.start_s")
        clip = f"LEAST(c.end_s, {d0} + {h1}) - GREATEST(c.start_s, {d0} + {h0})"
        out["school"] = f"""
            WITH led AS (
              SELECT COALESCE(pid_id, pid_phone) AS person, MIN(born_s) AS born_s, MIN(village) AS village,
                     MIN(pid_phone) AS pid_phone
              FROM ledger WHERE born_s IS NOT NULL GROUP BY COALESCE(pid_id, pid_phone)),
            att AS (
              SELECT c.person, vt.venue_id AS school
              FROM stay_cell c JOIN venue_tower vt ON vt.tk = c.place AND vt.kind = 'school'
              WHERE {_weekday("c.start_s")} < 5 AND {clip} > 0
              GROUP BY c.person, vt.venue_id HAVING SUM({clip}) >= {int(s.min_hours * 3600)}),
            rost AS (SELECT pid, MIN(school) AS school FROM roster_p GROUP BY pid),
            ci AS (
              SELECT i.case_key, i.hop, i.person, i.onset_s, i.start_s, i.end_s, l.village, l.pid_phone,
                     rr.school AS rostered
              FROM idx i JOIN led l ON l.person = i.person
              LEFT JOIN rost rr ON rr.pid = i.person
              WHERE i.onset_s - l.born_s >= {a0} AND i.onset_s - l.born_s < {a1}),
            cs AS (
              SELECT ci.case_key, ci.hop, ci.person, ci.onset_s, ci.start_s, ci.end_s, a.school, 0 AS r
              FROM ci JOIN att a ON a.person = ci.person WHERE ci.rostered IS NULL
              UNION
              SELECT ci.case_key, ci.hop, ci.person, ci.onset_s, ci.start_s, ci.end_s, vt.venue_id AS school,
                     0 AS r
              FROM ci JOIN venue_tower vt ON vt.kind = 'school'
                AND SUBSTR(vt.unit_code, 1, 9) = SUBSTR(ci.village, 1, 9)
              WHERE ci.pid_phone IS NULL AND ci.rostered IS NULL
              UNION
              SELECT ci.case_key, ci.hop, ci.person, ci.onset_s, ci.start_s, ci.end_s, ci.rostered AS school,
                     1 AS r
              FROM ci WHERE ci.rostered IS NOT NULL),
            mates AS (
              SELECT cs.case_key, cs.hop, cs.person AS case_person, cs.onset_s, cs.start_s, cs.end_s,
                     cs.school, cs.r, a.person AS contact
              FROM cs JOIN att a ON a.school = cs.school
              UNION
              SELECT cs.case_key, cs.hop, cs.person AS case_person, cs.onset_s, cs.start_s, cs.end_s,
                     cs.school, cs.r, l.person AS contact
              FROM cs JOIN venue_tower vt ON vt.venue_id = cs.school
              JOIN led l ON l.pid_phone IS NULL AND SUBSTR(l.village, 1, 9) = SUBSTR(vt.unit_code, 1, 9)),
            sm AS ({_school_minutes(policy, "cs")})
            SELECT m.case_key, m.hop, m.contact, 'ledger' AS source, 'school:' || m.school AS place,
                   m.start_s, m.end_s, sm.school_min AS minutes, 'school' AS distance
            FROM mates m JOIN led l ON l.person = m.contact
            JOIN sm ON sm.case_key = m.case_key AND sm.hop = m.hop
            LEFT JOIN rost rc ON rc.pid = m.contact
            WHERE m.contact <> m.case_person
              AND m.onset_s - l.born_s >= {a0} AND m.onset_s - l.born_s < {a1}
              AND (m.r = 0 OR rc.pid IS NULL)"""
    return out
