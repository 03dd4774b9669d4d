"""``sentinel fleet status``, ``sentinel gpu show`` and ``sentinel gpu history``."""

from __future__ import annotations

from datetime import datetime, timezone

import click
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from sentinel._cli.connection import Connection
from sentinel._cli.options import MOMENT, enum_option
from sentinel._cli.render import console, span, sparkline, state_text, when
from sentinel.fleet import CorrelationEvent, GpuHealth, GpuHealthState, StateTransition

_PAGE = 500


@click.group()
def fleet() -> None:
    """The fleet as a whole."""


@fleet.command()
@click.option("--host-prefix", default="", help="Only hosts whose name starts with this.")
@click.option("--model", default="", help="Only this GPU model.")
@enum_option("--state", "states", enum=GpuHealthState, multiple=True, help="Only these states.")
@click.option(
    "--limit",
    default=50,
    show_default=True,
    type=click.IntRange(min=0),
    help="GPUs listed, least reliable first; 0 lists all.",
)
@click.pass_obj
def status(
    conn: Connection,
    host_prefix: str,
    model: str,
    states: tuple[GpuHealthState, ...],
    limit: int,
) -> None:
    """Fleet summary, then the GPUs ordered from least to most reliable."""
    state_filter = list(states) or None
    with conn.open() as client:
        summary = client.query_fleet_health(host_prefix, model, state_filter)
        gpus: list[GpuHealth] = []
        token = ""
        while True:
            page = client.list_gpus(host_prefix, model, state_filter, _PAGE, token)
            gpus.extend(page.gpus)
            token = page.next_page_token
            if not token:
                break

    out = console()
    counts = Text.assemble(("GPUs ", "bold"), f"{summary.total_gpus}   ")
    for state, count in (
        (GpuHealthState.HEALTHY, summary.healthy),
        (GpuHealthState.SUSPECT, summary.suspect),
        (GpuHealthState.QUARANTINED, summary.quarantined),
        (GpuHealthState.DEEP_TEST, summary.deep_test),
        (GpuHealthState.CONDEMNED, summary.condemned),
    ):
        counts.append_text(state_text(state))
        counts.append(f" {count}   ")
    rates = (
        f"SDC rate {summary.overall_sdc_rate:.6f} events/GPU-hour   "
        f"average reliability {summary.average_reliability_score:.6f}   "
        f"active agents {summary.active_agents}   "
        f"window {span(summary.rate_window_seconds)}"
    )
    out.print(Panel(Text.assemble(counts, "\n", rates), title="Fleet", expand=False))

    gpus.sort(key=lambda gpu: gpu.reliability_score)
    shown = gpus[:limit] if limit else gpus
    table = Table(title="GPUs, least reliable first", title_justify="left")
    table.add_column("UUID", no_wrap=True)
    table.add_column("host")
    table.add_column("idx", justify="right")
    table.add_column("model")
    table.add_column("state")
    for column in ("reliability", "pass/fail", "anomalies", "fail rate/h"):
        table.add_column(column, justify="right")
    for gpu in shown:
        ident = gpu.gpu
        table.add_row(
            ident.uuid if ident else "?",
            ident.hostname if ident else "",
            str(ident.device_index) if ident else "",
            ident.model if ident else "",
            state_text(gpu.state),
            f"{gpu.reliability_score:.6f}",
            f"{gpu.probe_pass_count}/{gpu.probe_fail_count}",
            str(gpu.anomaly_count),
            f"{gpu.probe_failure_rate:.2f}",
        )
    if len(shown) < len(gpus):
        table.caption = f"{len(shown)} of {len(gpus)} GPUs; --limit 0 lists all"
    out.print(table)


@click.group()
def gpu() -> None:
    """One GPU."""


@gpu.command()
@click.argument("uuid")
@click.option("--all-sms", is_flag=True, help="List every SM, not only those with failures.")
@click.pass_obj
def show(conn: Connection, uuid: str, all_sms: bool) -> None:
    """Health of one GPU and of its streaming multiprocessors."""
    with conn.open() as client:
        health = client.query_gpu_health(uuid)

    ident = health.gpu
    details = Table.grid(padding=(0, 2))
    details.add_column(style="bold")
    details.add_column()
    rows: list[tuple[str, str | Text]] = [
        ("UUID", ident.uuid if ident else uuid),
        ("host", f"{ident.hostname} (device {ident.device_index})" if ident else ""),
        ("model", ident.model if ident else ""),
        (
            "driver / firmware",
            f"{ident.driver_version} / {ident.firmware_version}" if ident else "",
        ),
        (
            "state",
            Text.assemble(state_text(health.state), f" since {when(health.state_changed_at)}"),
        ),
        ("reason", health.state_change_reason or "—"),
        (
            "reliability",
            f"{health.reliability_score:.6f} (alpha {health.alpha:.2f}, beta {health.beta:.2f})",
        ),
        ("probes", f"{health.probe_pass_count} passed, {health.probe_fail_count} failed"),
        ("anomalies", str(health.anomaly_count)),
        (
            "rates",
            f"{health.probe_failure_rate:.2f} probe failures/h, "
            f"{health.anomaly_rate:.2f} anomalies/h",
        ),
        ("last probe", when(health.last_probe_time)),
        ("last anomaly", when(health.last_anomaly_time)),
    ]
    for label, value in rows:
        details.add_row(label, value)
    out = console()
    out.print(Panel(details, title="GPU", expand=False))

    sms = [sm for sm in health.sm_health if all_sms or sm.probe_fail_count or sm.disabled]
    if not sms:
        out.print(
            f"No SM has failed a probe ({len(health.sm_health)} tracked; --all-sms lists them)."
        )
        return
    table = Table(title="SMs", title_justify="left")
    table.add_column("SM", justify="right")
    for column in ("reliability", "passed", "failed"):
        table.add_column(column, justify="right")
    table.add_column("disabled")
    for sm in sorted(sms, key=lambda sm: sm.reliability_score):
        table.add_row(
            str(sm.sm.sm_id) if sm.sm else "?",
            f"{sm.reliability_score:.6f}",
            str(sm.probe_pass_count),
            str(sm.probe_fail_count),
            (sm.disable_reason or "yes") if sm.disabled else "",
        )
    out.print(table)


@gpu.command()
@click.argument("uuid")
@click.option(
    "--since", type=MOMENT, default="7d", show_default=True, help="Start: 30m, 24h, 7d or ISO."
)
@click.option("--until", type=MOMENT, default=None, help="End: 30m, 24h, 7d or ISO; default now.")
@click.option(
    "--limit", default=1000, show_default=True, type=click.IntRange(min=1), help="Events per page."
)
@click.pass_obj
def history(
    conn: Connection, uuid: str, since: datetime, until: datetime | None, limit: int
) -> None:
    """State transitions, correlations and reliability of one GPU over a time range."""
    end = until or datetime.now(timezone.utc)
    transitions: list[StateTransition] = []
    correlations: list[CorrelationEvent] = []
    scores: list[float] = []
    token = ""
    with conn.open() as client:
        while True:
            page = client.get_gpu_history(uuid, since, end, limit, token)
            transitions.extend(page.state_transitions)
            correlations.extend(page.correlations)
            scores.extend(sample.reliability_score for sample in page.reliability_history)
            token = page.next_page_token
            if not token:
                break

    out = console()
    out.print(f"History of {uuid} from {when(since)} to {when(end)}")
    if transitions:
        table = Table(title=f"State transitions ({len(transitions)})", title_justify="left")
        for column in ("time", "from", "to", "reason", "by"):
            table.add_column(column)
        for move in transitions:
            table.add_row(
                when(move.timestamp),
                state_text(move.from_state),
                state_text(move.to_state),
                move.reason,
                move.initiated_by,
            )
        out.print(table)
    else:
        out.print("State transitions: none in this range.")

    if correlations:
        table = Table(title=f"Correlations ({len(correlations)})", title_justify="left")
        for column in ("time", "pattern", "severity", "confidence", "SM", "description", "action"):
            table.add_column(column, justify="right" if column == "confidence" else "left")
        for event in correlations:
            table.add_row(
                when(event.timestamp),
                event.pattern_type.name,
                event.severity.name,
                f"{event.confidence:.2f}",
                str(event.attributed_sm.sm_id) if event.attributed_sm else "",
                event.description,
                event.recommended_action,
            )
        out.print(table)
    else:
        out.print("Correlations: none in this range.")

    if scores:
        out.print(
            f"Reliability: {len(scores)} samples, min {min(scores):.6f}, "
            f"max {max(scores):.6f}, last {scores[-1]:.6f}  {sparkline(scores)}"
        )
    else:
        out.print("Reliability: no samples in this range.")
