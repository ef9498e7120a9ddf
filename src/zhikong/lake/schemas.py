"""Schemas of the lake: one Parquet dataset per source, partitioned by local day (``day=YYYY-MM-DD``).

Conventions (every source):

* Times are ``timestamp[us, tz=UTC]``; the district's zone (``Settings.timezone``, Asia/Shanghai by
  default) only decides which ``day`` partition a row falls in.
* Positions are WGS-84 ``lat``/``lon`` **and** local metres ``x``/``y`` from
  ``zhikong.geo.projection`` (east/north of the district's origin).
* People are never identified in plaintext: ``pid`` is the keyed hash (``core.crypto.PiiCipher.
  keyed_hash``) of the normalised identifier the feed carries; ``pid_kind`` says which one
  (``phone`` = E.164 mobile number, ``id`` = 18-digit citizen ID number). The ledger keeps the same
  hashes beside its encrypted identifiers, so only the operational database maps a pid to a person.

This module is the contract between the simulator, ingest and the engines; change it with care
(``SCHEMA_VERSION``).
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = 1

TS = pa.timestamp("us", tz="UTC")

#: source name → schema of its rows (without the ``day`` partition column)
SOURCES: dict[str, pa.Schema] = {
    # 移动通讯 cell signalling: one row per network event of a handset
    "cell": pa.schema([
        ("pid", pa.string()),          # phone pseudonym
        ("ts", TS),
        ("tower_id", pa.string()),
        ("event", pa.string()),        # periodic | handover | call | data | attach
    ]),
    # operators' itinerary service: cities a number was seen in outside the district (last 14 days)
    "roaming": pa.schema([
        ("pid", pa.string()),          # phone pseudonym
        ("city", pa.string()),         # e.g. 武汉市
        ("city_code", pa.string()),    # GB/T 2260 code of the city (6 digits)
        ("first_seen", TS),
        ("last_seen", TS),
    ]),
    # 天眼 camera sightings: a face/person match of a camera frame against the ledger
    "camera": pa.schema([
        ("camera_id", pa.string()),
        ("ts", TS),
        ("pid", pa.string()),          # ID-number pseudonym of the matched person
        ("score", pa.float32()),       # match confidence 0..1
    ]),
    # 场所码 venue scans
    "venue_scan": pa.schema([
        ("venue_id", pa.string()),
        ("ts", TS),
        ("pid", pa.string()),          # ID-number pseudonym (health-code scan)
    ]),
    # travel records: arrivals into the district by train, coach or flight
    "travel": pa.schema([
        ("pid", pa.string()),          # ID-number pseudonym (real-name ticketing)
        ("mode", pa.string()),         # train | coach | flight
        ("vehicle", pa.string()),      # train number / coach plate / flight number
        ("carriage", pa.string()),     # carriage or cabin section ('' when none)
        ("seat", pa.string()),         # e.g. 05A, 12F
        ("origin_city", pa.string()),
        ("origin_code", pa.string()),  # GB/T 2260 code of the origin city
        ("depart_ts", TS),
        ("ts", TS),                    # arrival time (the partition time)
    ]),
    # GPS points from a health app, for the share of people who use it
    "gps": pa.schema([
        ("pid", pa.string()),          # phone pseudonym
        ("ts", TS),
        ("lat", pa.float64()),
        ("lon", pa.float64()),
        ("x", pa.float32()),
        ("y", pa.float32()),
        ("accuracy_m", pa.float32()),
    ]),
    # Bluetooth proximity encounters, for the share of people whose phone logs them
    "proximity": pa.schema([
        ("pid", pa.string()),          # phone pseudonym of the logging phone
        ("other_pid", pa.string()),    # phone pseudonym of the phone seen
        ("ts", TS),                    # start of the encounter
        ("duration_s", pa.int32()),
        ("rssi", pa.int16()),          # dBm, stronger (less negative) = closer
    ]),
}

#: the identifier kind each source's ``pid`` carries
PID_KIND: dict[str, str] = {
    "cell": "phone",
    "roaming": "phone",
    "camera": "id",
    "venue_scan": "id",
    "travel": "id",
    "gps": "phone",
    "proximity": "phone",
}

#: the time column that decides a row's day partition
TIME_COLUMN: dict[str, str] = {
    "cell": "ts",
    "roaming": "last_seen",
    "camera": "ts",
    "venue_scan": "ts",
    "travel": "ts",
    "gps": "ts",
    "proximity": "ts",
}

#: reference tables (not partitioned): the infrastructure the feeds refer to
REFERENCE: dict[str, pa.Schema] = {
    "tower": pa.schema([
        ("tower_id", pa.string()),
        ("lat", pa.float64()), ("lon", pa.float64()), ("x", pa.float32()), ("y", pa.float32()),
        ("radius_m", pa.float32()),    # nominal cell radius
        ("unit_code", pa.string()),    # village/community code the tower stands in
    ]),
    "camera": pa.schema([
        ("camera_id", pa.string()),
        ("place_code", pa.string()),   # the key place it watches ('' for a road checkpoint)
        ("lat", pa.float64()), ("lon", pa.float64()), ("x", pa.float32()), ("y", pa.float32()),
        ("unit_code", pa.string()),
    ]),
    "venue": pa.schema([
        ("venue_id", pa.string()),
        ("name", pa.string()),
        ("kind", pa.string()),         # home | work | market | supermarket | square | restaurant | school …
        ("lat", pa.float64()), ("lon", pa.float64()), ("x", pa.float32()), ("y", pa.float32()),
        ("unit_code", pa.string()),
    ]),
}
