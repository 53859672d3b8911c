"""The workload assumptions the cost model needs beyond the deployment config.

Every default says where it comes from. Spark throughput comes from this project's own
benchmarks (``docs/benchmarks.md``, 2026-11-26, Spark ``local[*]`` on 2 shared cores), scaled
to a Glue DPU (4 vCPU) as if one DPU did what two of those cores did per core. That scaling is
an assumption to replace with the first real deployment's Glue metrics.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

_CORES_IN_BENCHMARK = 2
_VCPU_PER_DPU = 4


def _per_dpu_minute(records_per_second_on_benchmark: str) -> Decimal:
    """Benchmark records/s on 2 cores → rows per DPU-minute (4 vCPU)."""
    per_core = Decimal(records_per_second_on_benchmark) / _CORES_IN_BENCHMARK
    return per_core * _VCPU_PER_DPU * 60


_BRONZE_ROWS_PER_DPU_MINUTE = _per_dpu_minute("12200")
_SILVER_ROWS_PER_DPU_MINUTE = _per_dpu_minute("2410")
_GOLD_ROWS_PER_DPU_MINUTE = _per_dpu_minute("4037")
_OHLCV_ROWS_PER_DPU_MINUTE = _per_dpu_minute("171821")
_MAINTENANCE_ROWS_PER_DPU_MINUTE = _per_dpu_minute("12200")


@dataclass(frozen=True)
class Workload:
    """What the deployment is asked to do. ``msgs/s`` everywhere means Kafka records (trades
    plus quotes) summed over every configured exchange."""

    quotes_per_trade: Decimal = Decimal("0.7")
    """The exchange simulator's mix (docs/benchmarks.md: bookTicker adds 0.7 quotes per trade
    after de-duplication). Real markets vary a lot with the symbols chosen."""

    kafka_reads_per_message: Decimal = Decimal(1)
    """Consumers reading each record: bronze's one read. Replays add to this."""

    bronze_bytes_per_row: Decimal = Decimal(80)
    """Parquet bytes per bronze row after compression: the ~100-byte framed Avro value, which
    compresses poorly, plus Kafka coordinates. Assumed; not yet measured."""
    silver_bytes_per_row: Decimal = Decimal(61)
    """Assumed equal to gold: silver holds the same trade_v2/quote_v2 columns."""
    gold_bytes_per_row: Decimal = Decimal(61)
    """Measured: 10,000,000 synthetic gold trades in 579 MiB of Parquet (docs/benchmarks.md,
    Query API). Real trades compress differently; quotes are assumed the same size."""

    days_stored: int = 365
    """The lake is kept forever, so storage grows; priced at the month after one year."""

    spark_fixed_minutes_per_run: Decimal = Decimal("1.5")
    """Billed minutes every run spends whatever its size: Spark and Iceberg start-up, Kafka
    offsets, commits and checkpoints. Locally the fixed part of an incremental OHLCV run is
    17.5 s (docs/benchmarks.md); the rest of 1.5 min is an assumption for Glue's Spark start.
    Glue bills at least 1 minute per run either way."""
    bronze_rows_per_dpu_minute: Decimal = _BRONZE_ROWS_PER_DPU_MINUTE
    """docs/benchmarks.md, bronze: 12,200 records/s (Kafka → bronze, 2 runs, 100,000 trades)."""
    silver_rows_per_dpu_minute: Decimal = _SILVER_ROWS_PER_DPU_MINUTE
    """docs/benchmarks.md, silver: 2,410 records/s (decode, normalise, validate, + DLQ)."""
    gold_rows_per_dpu_minute: Decimal = _GOLD_ROWS_PER_DPU_MINUTE
    """docs/benchmarks.md, gold: 4,037 records/s (MERGE of both silvers into gold)."""
    ohlcv_rows_per_dpu_minute: Decimal = _OHLCV_ROWS_PER_DPU_MINUTE
    """docs/benchmarks.md, OHLCV full build: 10,000,000 trades, five timeframes, 58.2 s."""
    maintenance_rows_per_dpu_minute: Decimal = _MAINTENANCE_ROWS_PER_DPU_MINUTE
    """Compaction rewrites each day's bronze, silver and gold files once; assumed as fast as
    bronze's plain append (no MERGE, no Python)."""

    s3_puts_per_run: int = 30
    """Data files, manifests, manifest list, metadata JSON, checkpoint and commit files."""
    s3_gets_per_run: int = 200
    """Metadata, manifests, checkpoint reads and the data files a MERGE reads back."""
    glue_catalog_requests_per_run: int = 20
    """Iceberg GetTable/UpdateTable and the job's own catalog calls."""
    step_function_transitions_per_pipeline_run: int = 30
    """One bronze → silver → gold run: a Map over the jobs, each task started and awaited."""

    api_requests_per_month: int = 1_000_000
    """Researchers' calls; independent of the message rate."""
    api_mean_duration_seconds: Decimal = Decimal(1)
    """Lambda time per request: 0.34-2.2 s one at a time locally (docs/benchmarks.md)."""
    api_response_kib: Decimal = Decimal(20)
    """Mean JSON response sent to the internet."""
    api_s3_gets_per_request: int = 10
    api_glue_requests_per_request: int = 1
    """Table metadata is cached 30 s per Lambda instance, so about one catalog call per request."""
    athena_tb_scanned_per_month: Decimal = Decimal(1)
    """Ad-hoc SQL by researchers; independent of the message rate."""

    log_mib_per_spark_run: Decimal = Decimal(1)
    log_mib_per_feed_task_day: Decimal = Decimal(20)
    """Feed handler logs plus its EMF metric lines (one document per flush interval)."""
    log_kib_per_api_request: Decimal = Decimal(2)
    """Request log line plus the EMF metrics document."""
    ecr_image_gib: Decimal = Decimal(1)
    """Feed handler and API images (the API's is ~376 MiB uncompressed, docs/benchmarks.md)."""

    feed_records_per_vcpu_second: Decimal = Decimal(3600)
    """docs/benchmarks.md: the handler publishes 3,600-5,600 records per CPU second; the lower
    bound is used to warn when a configured task cannot keep up."""

    @property
    def trade_share(self) -> Decimal:
        return 1 / (1 + self.quotes_per_trade)


DEFAULT_WORKLOAD = Workload()
