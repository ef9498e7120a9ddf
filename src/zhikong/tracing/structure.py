"""Exposures from the district's structure: habitual venues seen through the cell feed, and schools.

Two detectors complement the per-source ones of ``pipeline``; both read the prepared tables
(``stay_cell``, ``stay_venue``, ``ledger``, ``idx``) and return the same evidence rows.

* **venue_cell** (source ``cell``) — a person who scanned a venue of an *anchor* kind (a workplace:
  ``rules.anchor_hours``) in the look-back is placed at that venue whenever their cell stays are on
  the venue's nearest tower within the kind's local hours. Such inferred stays meet scanned or
  inferred stays of others at the same venue, so a colleague who forgot to scan on the case's
  working days (or a case who did) is still found, with the venue as the place. Pairs where both
  sides scanned are left to the ``venue_scan`` detector.
* **school** (source ``ledger``, distance ``school``) — the stand-in for a class roster: see
  :class:`zhikong.tracing.policy.SchoolRule`.

The nearest tower of a venue comes from the reference tables (``ref_venue``, ``ref_tower``: local
metres), the way the operator's network serves a place.
"""

from __future__ import annotations

import pyarrow as pa

from zhikong.engine import QueryEngine
from zhikong.tracing.policy import Policy

LOCAL_OFFSET_S = 8 * 3600
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
    kinds = set(policy.rules.anchor_hours)
    if policy.school is not None and policy.school.enabled:
        kinds.add("school")
    return sorted(kinds)


def prepare(engine: QueryEngine, policy: Policy) -> None:
    """``venue_tower`` (nearest tower of anchor and school venues) and ``stay_anchor``."""
    kinds = _kinds(policy)
    in_kinds = ", ".join(f"'{k}'" for k in kinds) or "''"
    m = TOWER_SEARCH_M
    dx = "(CAST(v.x AS DOUBLE) - CAST(t.x AS DOUBLE))"
    dy = "(CAST(v.y AS DOUBLE) - CAST(t.y AS DOUBLE))"
    engine.create_table(
        "venue_tower",
        f"""
        SELECT venue_id, kind, unit_code, tower_id FROM (
          SELECT v.venue_id, v.kind, v.unit_code, t.tower_id,
                 ROW_NUMBER() OVER (PARTITION BY v.venue_id ORDER BY {dx} * {dx} + {dy} * {dy}, t.tower_id)
                   AS rn
          FROM ref_venue v JOIN ref_tower t ON ABS(v.x - t.x) < {m} AND ABS(v.y - t.y) < {m}
          WHERE v.kind IN ({in_kinds})) q
        WHERE rn = 1""",
    )
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
    engine.create_table(
        "stay_anchor",
        f"""
        WITH a AS (
          SELECT DISTINCT s.person, s.place AS venue, s.kind FROM stay_venue s
          JOIN anchor_hours h ON h.kind = s.kind),
        c AS (
          SELECT s.person, a.venue AS place, a.kind, s.start_s, s.end_s, {_midnight("s.start_s")} AS d0
          FROM stay_cell s JOIN a ON a.person = s.person
          JOIN venue_tower vt ON vt.venue_id = a.venue AND vt.tower_id = s.place)
        SELECT c.person, c.place, c.kind, GREATEST(c.start_s, c.d0 + h.h0_s) AS start_s,
               LEAST(c.end_s, c.d0 + h.h1_s) AS end_s
        FROM c JOIN anchor_hours h ON h.kind = c.kind
        WHERE LEAST(c.end_s, c.d0 + h.h1_s) > GREATEST(c.start_s, c.d0 + h.h0_s)""",
    )


def detectors(policy: Policy) -> dict[str, str]:
    """SQL of the structure detectors, by name (evidence columns as ``pipeline.EVIDENCE_COLUMNS``)."""
    out: dict[str, str] = {}
    r = policy.rules
    if r.anchor_hours:
        near = ", ".join(f"'{k}'" for k in r.venue_near_kinds) or "''"
        anchor = ", ".join(f"'{k}'" for k in r.anchor_hours)
        day = f"({_midnight('s0')})"
        out["venue_cell"] = f"""
            WITH st AS (
              SELECT person, place, kind, start_s, end_s, 0 AS inferred FROM stay_venue
              WHERE kind IN ({anchor})
              UNION ALL
              SELECT person, place, kind, start_s, end_s, 1 AS inferred FROM stay_anchor),
            x AS (
              SELECT i.case_key, i.hop, i.person, s.place, s.kind, s.inferred,
                     GREATEST(s.start_s, i.start_s) AS a, LEAST(s.end_s, i.end_s) AS b
              FROM st s JOIN idx i ON s.person = i.person
              WHERE s.end_s > i.start_s AND s.start_s < i.end_s),
            env AS (SELECT place, MIN(a) AS a0, MAX(b) AS b1 FROM x GROUP BY place),
            oc AS (
              SELECT st.* FROM st JOIN env ON env.place = st.place
              WHERE st.start_s < env.b1 AND st.end_s > env.a0),
            e AS (
              SELECT x.case_key, x.hop, o.person AS contact, x.place, x.inferred * 2 + o.inferred AS combo,
                     GREATEST(x.a, o.start_s) AS s0, LEAST(x.b, o.end_s) AS s1,
                     CASE WHEN x.kind IN ({near}) THEN 'near' ELSE 'same_place' END AS distance
              FROM x JOIN oc o ON o.place = x.place AND o.start_s < x.b AND o.end_s > x.a
              WHERE o.person <> x.person AND x.inferred + o.inferred > 0),
            per AS (
              SELECT case_key, hop, contact, place, distance, combo, {day} AS d, MIN(s0) AS start_s,
                     MAX(s1) AS end_s, SUM(s1 - s0) / 60.0 AS minutes
              FROM e GROUP BY case_key, hop, contact, place, distance, combo, {day})
            SELECT case_key, hop, contact, 'cell' AS source, place, MIN(start_s) AS start_s,
                   MAX(end_s) AS end_s, MAX(minutes) AS minutes, distance
            FROM per GROUP BY case_key, hop, contact, place, distance, d"""
    s = policy.school
    if s is not None and s.enabled:
        a0, a1 = s.age[0] * YEAR_S, (s.age[1] + 1) * YEAR_S
        h0, h1 = int(s.hours[0] * 3600), int(s.hours[1] * 3600)
        d0 = _midnight("c.start_s")
        clip = f"LEAST(c.end_s, {d0} + {h1}) - GREATEST(c.start_s, {d0} + {h0})"
        days = "GREATEST(1.0, (cs.end_s - cs.start_s) / 86400.0 * 5.0 / 7.0)"
        out["school"] = f"""
            WITH led AS (
              SELECT COALESCE(pid_id, pid_phone) AS person, MIN(born_s) AS born_s, MIN(village) AS village,
                     MIN(pid_phone) AS pid_phone
              FROM ledger WHERE born_s IS NOT NULL GROUP BY COALESCE(pid_id, pid_phone)),
            att AS (
              SELECT c.person, vt.venue_id AS school
              FROM stay_cell c JOIN venue_tower vt ON vt.tower_id = c.place AND vt.kind = 'school'
              WHERE {_weekday("c.start_s")} < 5 AND {clip} > 0
              GROUP BY c.person, vt.venue_id HAVING SUM({clip}) >= {int(s.min_hours * 3600)}),
            ci AS (
              SELECT i.case_key, i.hop, i.person, i.onset_s, i.start_s, i.end_s, l.village, l.pid_phone
              FROM idx i JOIN led l ON l.person = i.person
              WHERE i.onset_s - l.born_s >= {a0} AND i.onset_s - l.born_s < {a1}),
            cs AS (
              SELECT ci.case_key, ci.hop, ci.person, ci.onset_s, ci.start_s, ci.end_s, a.school
              FROM ci JOIN att a ON a.person = ci.person
              UNION
              SELECT ci.case_key, ci.hop, ci.person, ci.onset_s, ci.start_s, ci.end_s, vt.venue_id AS school
              FROM ci JOIN venue_tower vt ON vt.kind = 'school'
                AND SUBSTR(vt.unit_code, 1, 9) = SUBSTR(ci.village, 1, 9)
              WHERE ci.pid_phone IS NULL),
            mates AS (
              SELECT cs.case_key, cs.hop, cs.person AS case_person, cs.onset_s, cs.start_s, cs.end_s,
                     cs.school, a.person AS contact
              FROM cs JOIN att a ON a.school = cs.school
              UNION
              SELECT cs.case_key, cs.hop, cs.person AS case_person, cs.onset_s, cs.start_s, cs.end_s,
                     cs.school, l.person AS contact
              FROM cs JOIN venue_tower vt ON vt.venue_id = cs.school
              JOIN led l ON l.pid_phone IS NULL AND SUBSTR(l.village, 1, 9) = SUBSTR(vt.unit_code, 1, 9))
            SELECT m.case_key, m.hop, m.contact, 'ledger' AS source, 'school:' || m.school AS place,
                   m.start_s, m.end_s, {s.minutes_per_day} * {days.replace("cs.", "m.")} AS minutes,
                   'school' AS distance
            FROM mates m JOIN led l ON l.person = m.contact
            WHERE m.contact <> m.case_person
              AND m.onset_s - l.born_s >= {a0} AND m.onset_s - l.born_s < {a1}"""
    return out
