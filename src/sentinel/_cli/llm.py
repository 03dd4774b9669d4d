"""``sentinel llm-detect``: more LLM detector workers, beside or instead of ``sentinel serve``.

Each worker is one member of the Kafka consumer group ``SENTINEL_LLM_GROUP_ID``; Kafka
shares the topic's partitions among all of them (in this process and others), and each
worker keeps the baselines of the (service, model) pairs its partitions carry, persisted in
the server's database. The server stack is imported inside the command.
"""

from __future__ import annotations

import dataclasses
import signal
import threading
from pathlib import Path
from typing import Any

import click
from rich.text import Text

from sentinel._cli.render import console


@click.command("llm-detect")
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Consumers to run in this process (at most one per partition does work).",
)
@click.option("--brokers", help="Kafka bootstrap servers [$SENTINEL_LLM_KAFKA_BROKERS].")
@click.option("--topic", help="Telemetry topic [$SENTINEL_LLM_TOPIC or llm-telemetry].")
@click.option("--group", help="Consumer group [$SENTINEL_LLM_GROUP_ID or sentinel-llm-detector].")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="The server's data dir [$SENTINEL_DATA_DIR or ./data].",
)
@click.option("--database-url", help="SQLAlchemy URL [$SENTINEL_DATABASE_URL or SQLite].")
def llm_detect(
    workers: int,
    brokers: str | None,
    topic: str | None,
    group: str | None,
    data_dir: Path | None,
    database_url: str | None,
) -> None:
    """Consume LLM telemetry from Kafka and store the anomalies found, until Ctrl-C."""
    from sentinel.core.db import make_engine, migrate
    from sentinel.core.settings import ServerSettings
    from sentinel.llm.consumer import KafkaWorker
    from sentinel.llm.ingest import LlmIngest
    from sentinel.llm.settings import LlmSettings

    try:
        server = ServerSettings.from_env()
        llm = LlmSettings.from_env()
        changes: dict[str, Any] = {}
        if brokers:
            changes["kafka_brokers"] = tuple(b.strip() for b in brokers.split(",") if b.strip())
        if topic:
            changes["topic"] = topic
        if group:
            changes["group_id"] = group
        llm = dataclasses.replace(llm, **changes)
        if data_dir:
            server = dataclasses.replace(server, data_dir=data_dir)
        if database_url:
            server = dataclasses.replace(server, database_url=database_url)
        if not llm.kafka_brokers:
            raise ValueError("name the Kafka brokers: --brokers or SENTINEL_LLM_KAFKA_BROKERS")
        db = make_engine(server.resolved_database_url)
        migrate(db)
        pool = [
            KafkaWorker(LlmIngest(db, llm), llm, name=f"llm-detect-{i}") for i in range(workers)
        ]
    except (ValueError, ImportError) as exc:
        console(stderr=True).print(Text.assemble(("error: ", "bold red"), (str(exc), "red")))
        raise SystemExit(1) from None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    for w in pool:
        w.start()
    console().print(
        f"{workers} LLM detector worker(s) on {llm.topic} at {','.join(llm.kafka_brokers)} "
        f"(group {llm.group_id}); Ctrl-C stops"
    )
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        for w in pool:
            w.stop()
        db.dispose()
