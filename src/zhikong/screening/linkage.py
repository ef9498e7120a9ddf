"""Record linkage with Splink 5: link a list to the ledger, deduplicate a list.

The engine is chosen by ``backend`` (``duckdb`` by default, ``spark`` selectable); both get the
same settings, built from a :class:`~zhikong.screening.profiles.Profile` whose comparisons are
plain SQL. pyspark is imported only when the Spark backend is asked for.

Training is the classic Fellegi–Sunter recipe: ``u`` from random sampling of record pairs, the
prior match rate from the expected share of list rows that are in the ledger (link) or from
high-precision deterministic rules (dedupe), and ``m`` starting from the profile's priors,
refined by EM sessions when there is enough data (``em=True``).

>>> from zhikong.screening.linkage import Thresholds
>>> Thresholds().decide(0.99)
'auto_link'
"""

from __future__ import annotations

import logging
import math
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from zhikong.core.errors import EngineError, InvalidInput, MissingExtra
from zhikong.screening.profiles import CHINESE, Profile

if TYPE_CHECKING:
    from splink import Linker
    from splink.internals.database_api import DatabaseAPISubClass

Backend = Literal["duckdb", "spark"]
Decision = Literal["auto_link", "review", "not_in_ledger"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Thresholds:
    """Match-probability bands: ``≥ auto_link`` links, ``≥ review`` goes for verification."""

    auto_link: float = 0.90
    review: float = 0.40

    def __post_init__(self) -> None:
        if not 0.0 < self.review <= self.auto_link <= 1.0:
            raise InvalidInput("thresholds must satisfy 0 < review <= auto_link <= 1",
                               field="thresholds")

    @classmethod
    def from_settings(cls) -> Thresholds:
        from zhikong.core.config import get_settings

        s = get_settings()
        return cls(s.screening_auto_link, s.screening_review)

    def decide(self, p: float | None) -> Decision:
        if p is not None and p >= self.auto_link:
            return "auto_link"
        if p is not None and p >= self.review:
            return "review"
        return "not_in_ledger"


def make_db_api(backend: Backend = "duckdb", *, spark_master: str = "local[2]") -> DatabaseAPISubClass:
    """A fresh Splink database API for ``backend`` (pyspark is imported lazily)."""
    if backend == "duckdb":
        import duckdb
        from splink import DuckDBAPI

        con = duckdb.connect()
        return DuckDBAPI(connection=con)
    if backend == "spark":
        try:
            from pyspark.sql import SparkSession
        except ImportError as e:  # pragma: no cover - depends on the installation
            raise MissingExtra("pyspark", "spark") from e
        from splink import SparkAPI

        spark = (SparkSession.builder.master(spark_master).appName("zhikong-linkage")
                 .config("spark.sql.shuffle.partitions", "4")
                 .config("spark.ui.enabled", "false").getOrCreate())
        return SparkAPI(spark_session=spark, break_lineage_method="persist",
                        register_udfs_automatically=False)
    raise InvalidInput(f"unknown linkage backend {backend!r}: use duckdb or spark", field="backend")


def _settings(profile: Profile, link_type: str, prior: float, retain: bool) -> dict[str, Any]:
    return {
        "link_type": link_type,
        "unique_id_column_name": "unique_id",
        "comparisons": [c.to_splink() for c in profile.comparisons],
        "blocking_rules_to_generate_predictions": [
            {"blocking_rule": r} for r in profile.blocking_rules],
        "probability_two_random_records_match": prior,
        "retain_matching_columns": True,
        "retain_intermediate_calculation_columns": retain,
        "max_iterations": 20,
    }


@dataclass
class LinkageRun:
    """The scored pairs of one run and the model that scored them."""

    pairs: pd.DataFrame
    profile: Profile
    model: dict[str, Any] = field(default_factory=dict)

    def explain(self, row: pd.Series) -> dict[str, dict[str, Any]]:
        """Which level each comparison reached and its match weight, for one pair."""
        out: dict[str, dict[str, Any]] = {}
        for c in self.profile.comparisons:
            gamma = row.get(f"gamma_{c.name}")
            weight = row.get(f"mw_{c.name}")
            if gamma is None or pd.isna(gamma):
                continue
            out[c.name] = {"level": c.label_of(int(gamma)),
                           "match_weight": None if weight is None or pd.isna(weight)
                           else round(float(weight), 2)}
        return out


#: below this many records in all, random pairs are too few to estimate ``u``: a profile with
#: ``u`` priors for every level keeps them
MIN_RECORDS_FOR_U = 1000


def _train(linker: Linker, profile: Profile, *, em: bool, n_pairs_max: float, seed: int,
           n_records: int) -> None:
    if n_records >= MIN_RECORDS_FOR_U or not profile.has_u_priors:
        linker.training.estimate_u_using_random_sampling(max_pairs=n_pairs_max, seed=seed)
    if not em:
        return
    for rule in profile.em_rules:
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(
                rule, estimate_without_term_frequencies=True)
        except Exception as e:  # EM may not converge on tiny data; keep priors
            log.warning("EM session on %s skipped: %s", rule, e)


def _predict(linker: Linker, threshold: float | None) -> pd.DataFrame:
    sdf = linker.inference.predict(threshold_match_probability=threshold)
    df = sdf.as_pandas_dataframe()
    return df


def _register(db_api: DatabaseAPISubClass, df: pd.DataFrame, name: str) -> Any:
    # The physical table name is unique per run: a Spark session is shared by every linkage in
    # the process (``getOrCreate``), and a second run registering "ledger" again would collide.
    table_name = f"{name}_{uuid.uuid4().hex[:12]}"
    if db_api.sql_dialect.sql_dialect_str == "spark":
        spark = db_api.spark  # type: ignore[attr-defined]
        return db_api.register(spark.createDataFrame(df.astype(object).where(df.notna(), None)),
                               dataset_display_name=name, table_name=table_name)
    return db_api.register(df, dataset_display_name=name, table_name=table_name)


def link(
    records: pd.DataFrame,
    ledger: pd.DataFrame,
    *,
    profile: Profile = CHINESE,
    backend: Backend = "duckdb",
    in_ledger_share: float = 0.8,
    em: bool = True,
    threshold: float | None = 0.01,
    seed: int = 42,
    spark_master: str = "local[2]",
) -> LinkageRun:
    """Score pairs (list row, ledger row) that pass any blocking rule.

    ``records`` and ``ledger`` carry the profile's raw columns and ``unique_id``. Pairs below
    ``threshold`` are dropped (``None`` keeps every blocked pair, for blocking recall). The
    result has ``unique_id_l`` (list) and ``unique_id_r`` (ledger) columns.
    """
    if records.empty:
        return LinkageRun(pd.DataFrame(columns=["unique_id_l", "unique_id_r", "match_probability",
                                                "match_weight"]), profile)
    if ledger.empty:
        raise InvalidInput("the ledger is empty: import it before linking lists", field="ledger")
    from splink import Linker

    left = profile.prepare(records)
    right = profile.prepare(ledger)
    prior = min(max(in_ledger_share, 1e-6) / len(right), 0.5)
    db_api = make_db_api(backend, spark_master=spark_master)
    try:
        sdf_l = _register(db_api, left, "list")
        sdf_r = _register(db_api, right, "ledger")
        linker = Linker([sdf_l, sdf_r], _settings(profile, "link_only", prior, True),
                        log_level=logging.ERROR)
        _train(linker, profile, em=em and len(left) >= 200, n_pairs_max=2e6, seed=seed,
               n_records=len(left) + len(right))
        pairs = _predict(linker, threshold)
        model = linker.misc.save_model_to_json()
    except InvalidInput:
        raise
    except Exception as e:
        raise EngineError(f"linkage on {backend} failed: {e}") from e
    # Splink puts the first input ("list") on the left for link_only.
    if "source_dataset_l" in pairs.columns:
        swap = pairs["source_dataset_l"] != "list"
        if swap.any():
            pairs = _swap_sides(pairs, swap)
    return LinkageRun(pairs, profile, model)


def _swap_sides(pairs: pd.DataFrame, mask: pd.Series) -> pd.DataFrame:
    pairs = pairs.copy()
    lcols = [c for c in pairs.columns if c.endswith("_l")]
    for lc in lcols:
        rc = lc[:-2] + "_r"
        if rc in pairs.columns:
            lv = pairs.loc[mask, lc].copy()
            pairs.loc[mask, lc] = pairs.loc[mask, rc]
            pairs.loc[mask, rc] = lv
    return pairs


def dedupe(
    records: pd.DataFrame,
    *,
    profile: Profile = CHINESE,
    backend: Backend = "duckdb",
    cluster_threshold: float = 0.95,
    em: bool = True,
    recall_of_rules: float = 0.7,
    seed: int = 42,
    spark_master: str = "local[2]",
) -> tuple[LinkageRun, pd.DataFrame]:
    """Deduplicate within one list: scored pairs and clusters (``unique_id``, ``cluster_id``)."""
    from splink import Linker

    if len(records) < 2:
        clusters = pd.DataFrame({"unique_id": records["unique_id"].astype(str),
                                 "cluster_id": records["unique_id"].astype(str)})
        return LinkageRun(pd.DataFrame(), profile), clusters
    prepared = profile.prepare(records)
    db_api = make_db_api(backend, spark_master=spark_master)
    try:
        sdf = _register(db_api, prepared, "list")
        n = len(prepared)
        linker = Linker(sdf, _settings(profile, "dedupe_only", 2.0 / (n * (n - 1)), True),
                        log_level=logging.ERROR)
        if profile.deterministic_rules:
            try:
                linker.training.estimate_probability_two_random_records_match(
                    list(profile.deterministic_rules), recall=recall_of_rules)
            except Exception as e:  # no deterministic match: keep the default
                log.warning("prior estimation skipped: %s", e)
        _train(linker, profile, em=em and n >= 200, n_pairs_max=2e6, seed=seed, n_records=n)
        sdf_pred = linker.inference.predict(threshold_match_probability=0.01)
        clusters_sdf = linker.clustering.cluster_pairwise_predictions_at_threshold(
            sdf_pred, threshold_match_probability=cluster_threshold)
        pairs = sdf_pred.as_pandas_dataframe()
        clusters = clusters_sdf.as_pandas_dataframe()[["unique_id", "cluster_id"]]
        model = linker.misc.save_model_to_json()
    except InvalidInput:
        raise
    except Exception as e:
        raise EngineError(f"deduplication on {backend} failed: {e}") from e
    return LinkageRun(pairs, profile, model), clusters


@dataclass(frozen=True)
class Candidate:
    list_uid: str
    ledger_uid: str | None
    match_probability: float | None
    match_weight: float | None
    decision: Decision
    explanation: dict[str, dict[str, Any]]
    runner_up_probability: float | None = None


def decide(run: LinkageRun, list_uids: list[str], thresholds: Thresholds) -> list[Candidate]:
    """The best ledger candidate per list row and its decision.

    Two ledger candidates both at or above the auto-link threshold are ambiguous and go for
    verification instead of being linked.
    """
    pairs = run.pairs
    best: dict[str, tuple[pd.Series, float | None]] = {}
    if not pairs.empty:
        ordered = pairs.sort_values(["unique_id_l", "match_probability"], ascending=[True, False])
        for uid, grp in ordered.groupby("unique_id_l", sort=False):
            top = grp.iloc[0]
            second = float(grp.iloc[1]["match_probability"]) if len(grp) > 1 else None
            best[str(uid)] = (top, second)
    out: list[Candidate] = []
    for uid in list_uids:
        if uid not in best:
            out.append(Candidate(uid, None, None, None, "not_in_ledger", {}))
            continue
        top, second = best[uid]
        p = float(top["match_probability"])
        decision = thresholds.decide(p)
        if decision == "auto_link" and second is not None and second >= thresholds.auto_link:
            decision = "review"
        w = float(top["match_weight"])
        out.append(Candidate(
            uid, str(top["unique_id_r"]) if decision != "not_in_ledger" else None,
            p, None if math.isnan(w) else w, decision, run.explain(top), second))
    return out
