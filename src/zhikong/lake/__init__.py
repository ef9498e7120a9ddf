"""lake domain: the trajectory data lake (pseudonymised, day-partitioned Parquet per source).

Public API: ``ingest_file``, ``ingest_files`` (many batches, two converted at once), ``ingest_ref``,
``ingest_world``, ``get_lake`` (a ``Lake`` with
``partition()``, ``ref_path()``, ``stats()``, ``purge_before()``), and the schemas in
``zhikong.lake.schemas``. Read a source with any Parquet engine, e.g. DuckDB::

    read_parquet('<lake>/cell/*/*.parquet', hive_partitioning = true)   -- adds the day column
"""
