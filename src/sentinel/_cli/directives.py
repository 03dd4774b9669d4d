"""``sentinel quarantine`` and ``sentinel directives list|approve|reject``."""

from __future__ import annotations

import click
from rich.table import Table
from rich.text import Text

from sentinel._cli.connection import Connection
from sentinel._cli.render import console, when
from sentinel.fleet import DirectiveResponse, QuarantineAction, QuarantineDirective

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


@directives.command()
@click.argument("directive_id")
@click.option("--comment", default="", help="Kept with the review in the audit trail.")
@click.pass_obj
def approve(conn: Connection, directive_id: str, comment: str) -> None:
    """Approve a directive waiting for review, which then takes effect."""
    _review_directive(conn, directive_id, approve=True, comment=comment)


@directives.command()
@click.argument("directive_id")
@click.option("--comment", default="", help="Kept with the review in the audit trail.")
@click.pass_obj
def reject(conn: Connection, directive_id: str, comment: str) -> None:
    """Reject a directive waiting for review; the GPU stays as it is."""
    _review_directive(conn, directive_id, approve=False, comment=comment)


def _review_directive(conn: Connection, directive_id: str, *, approve: bool, comment: str) -> None:
    with conn.open() as client:
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
        return
    _report(response)


def _review(directive: QuarantineDirective) -> str:
    if not directive.requires_approval:
        return "no review needed"
    if directive.approval is None:
        return "pending"
    verdict = "approved" if directive.approval.approved else "rejected"
    return f"{verdict} by {directive.approval.reviewer}"


def _report(response: DirectiveResponse) -> None:
    """Prints the server's answer; a rejection ends the command with exit code 1."""
    out = console()
    if not response.accepted:
        out.print(Text.assemble(("rejected", "red"), f": {response.rejection_reason}"))
        raise click.exceptions.Exit(1)
    out.print(
        Text.assemble(
            ("accepted", "green"),
            f": directive {response.directive_id}, GPU state {response.resulting_state}",
        )
    )
