"""``sentinel quarantine`` and ``sentinel directives list|approve|reject``."""

from __future__ import annotations

import click
from rich.table import Table
from rich.text import Text

from sentinel._cli.connection import Connection
from sentinel._cli.render import console, when
from sentinel.fleet import (
    DirectiveResponse,
    InvalidArgumentError,
    NotFoundError,
    QuarantineAction,
    QuarantineDirective,
    SentinelClient,
)

_ACTIONS = {
    "quarantine": QuarantineAction.QUARANTINE,
    "reinstate": QuarantineAction.REINSTATE,
    "condemn": QuarantineAction.CONDEMN,
    "deep-test": QuarantineAction.SCHEDULE_DEEP_TEST,
}


@click.command()
@click.argument("uuid")
@click.option(
    "--action", required=True, type=click.Choice(list(_ACTIONS)), help="What to do with the GPU."
)
@click.option("--reason", required=True, help="Why; kept in the audit trail.")
@click.option(
    "--evidence", multiple=True, help="A supporting event or probe execution ID; repeatable."
)
@click.option("--requires-approval", is_flag=True, help="Wait for an operator's review.")
@click.option("--initiated-by", default="sentinel-cli", show_default=True, help="Who asks.")
@click.pass_obj
def quarantine(
    conn: Connection,
    uuid: str,
    action: str,
    reason: str,
    evidence: tuple[str, ...],
    requires_approval: bool,
    initiated_by: str,
) -> None:
    """Change a GPU's lifecycle state; exits 1 when the directive is rejected."""
    with conn.open() as client:
        response = client.issue_quarantine(
            uuid,
            _ACTIONS[action],
            reason,
            initiated_by=initiated_by,
            evidence=list(evidence),
            requires_approval=requires_approval,
        )
    _report(response)
    if response.accepted and requires_approval:
        console().print(
            f"Waiting for review: sentinel directives approve|reject {response.directive_id}"
        )


@click.group()
def directives() -> None:
    """Quarantine directives and their reviews."""


@directives.command("list")
@click.option("--pending", is_flag=True, help="Only directives waiting for review.")
@click.option("--gpu", "gpu_uuid", default="", help="Only directives for this GPU.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(min=1))
@click.pass_obj
def list_(conn: Connection, pending: bool, gpu_uuid: str, limit: int) -> None:
    """Directives, newest first as the server returns them."""
    with conn.open() as client:
        found = client.list_directives(pending_only=pending, gpu_uuid=gpu_uuid, limit=limit)
    table = Table(title=f"Directives ({len(found)})", title_justify="left")
    for column in ("ID", "GPU", "action", "status", "reason", "by", "issued"):
        table.add_column(column, no_wrap=column in ("ID", "GPU"))
    for directive in found:
        table.add_row(
            directive.directive_id,
            directive.gpu.uuid if directive.gpu else "",
            directive.action.name,
            _review(directive),
            directive.reason,
            directive.initiated_by,
            when(directive.timestamp),
        )
    console().print(table)


_PENDING_MAX = 10_000


@directives.command()
@click.argument("directive_ids", nargs=-1, metavar="[DIRECTIVE_ID]...")
@click.option("--all-pending", is_flag=True, help="Every directive waiting for review.")
@click.option("--comment", default="", help="Kept with the review in the audit trail.")
@click.pass_obj
def approve(
    conn: Connection, directive_ids: tuple[str, ...], all_pending: bool, comment: str
) -> None:
    """Approve directives waiting for review, which then take effect.

    Each directive is reviewed on its own: one that is no longer pending does not stop
    the others; the command exits 1 when any of them was not applied.
    """
    _review_many(conn, directive_ids, all_pending, approve=True, comment=comment)


@directives.command()
@click.argument("directive_ids", nargs=-1, metavar="[DIRECTIVE_ID]...")
@click.option("--all-pending", is_flag=True, help="Every directive waiting for review.")
@click.option("--comment", default="", help="Kept with the review in the audit trail.")
@click.pass_obj
def reject(
    conn: Connection, directive_ids: tuple[str, ...], all_pending: bool, comment: str
) -> None:
    """Reject directives waiting for review; their GPUs stay as they are."""
    _review_many(conn, directive_ids, all_pending, approve=False, comment=comment)


def _review_many(
    conn: Connection,
    directive_ids: tuple[str, ...],
    all_pending: bool,
    *,
    approve: bool,
    comment: str,
) -> None:
    verb = "approve" if approve else "reject"
    if bool(directive_ids) == all_pending:
        raise click.UsageError(
            f"name the directives to {verb} (sentinel directives {verb} ID [ID ...]) "
            "or pass --all-pending, not both"
        )
    with conn.open() as client:
        ids = list(dict.fromkeys(directive_ids)) or _pending_ids(client)
        if not ids:
            console().print("Nothing waits for review.")
            return
        if len(ids) == 1 and not all_pending:
            # One directive named: its failure is the command's, with the usual exit code.
            if not _review_directive(client, ids[0], approve=approve, comment=comment):
                raise click.exceptions.Exit(1)
            return
        done = 0
        for directive_id in ids:
            try:
                done += _review_directive(client, directive_id, approve=approve, comment=comment)
            except (NotFoundError, InvalidArgumentError) as exc:
                console().print(Text.assemble(("not reviewed", "red"), f": {directive_id}: {exc}"))
    console().print(f"{'approved' if approve else 'rejected'} {done} of {len(ids)} directives")
    if done < len(ids):
        raise click.exceptions.Exit(1)


def _pending_ids(client: SentinelClient) -> list[str]:
    pending = client.list_directives(pending_only=True, limit=_PENDING_MAX)
    if len(pending) == _PENDING_MAX:
        console().print(
            f"Only the newest {_PENDING_MAX:,} pending directives are reviewed; run again for more."
        )
    return [d.directive_id for d in pending]


def _review_directive(
    client: SentinelClient, directive_id: str, *, approve: bool, comment: str
) -> bool:
    """Reviews one directive and prints the outcome; whether it went as the reviewer asked."""
    response = client.review_directive(directive_id, approve=approve, comment=comment)
    if not approve and not response.accepted:
        # A rejection the reviewer asked for is the command succeeding.
        console().print(
            Text.assemble(
                ("rejected", "yellow"),
                f": directive {directive_id} ({response.rejection_reason}); "
                f"GPU state {response.resulting_state}",
            )
        )
        return True
    return _print_response(response)


def _review(directive: QuarantineDirective) -> str:
    if not directive.requires_approval:
        return "no review needed"
    if directive.approval is None:
        return "pending"
    verdict = "approved" if directive.approval.approved else "rejected"
    return f"{verdict} by {directive.approval.reviewer}"


def _report(response: DirectiveResponse) -> None:
    """Prints the server's answer; a rejection ends the command with exit code 1."""
    if not _print_response(response):
        raise click.exceptions.Exit(1)


def _print_response(response: DirectiveResponse) -> bool:
    """Prints the server's answer; whether the directive was accepted."""
    out = console()
    if not response.accepted:
        out.print(Text.assemble(("rejected", "red"), f": {response.rejection_reason}"))
        return False
    out.print(
        Text.assemble(
            ("accepted", "green"),
            f": directive {response.directive_id}, GPU state {response.resulting_state}",
        )
    )
    return True
