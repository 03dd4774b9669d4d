"""fleet engine tables

Revision ID: 0002_fleet
Revises: 0001_core
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_fleet"
down_revision = "0001_core"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fleet_agents",
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column("agent_version", sa.String(length=64), nullable=False),
        sa.Column("registered_us", sa.BigInteger(), nullable=False),
        sa.Column("last_heartbeat_us", sa.BigInteger(), nullable=False),
        sa.Column("config_version", sa.BigInteger(), nullable=False),
        sa.Column("config_error", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("agent_id", name=op.f("pk_fleet_agents")),
    )
    op.create_table(
        "fleet_config",
        sa.Column("version", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("update_id", sa.String(length=64), nullable=False),
        sa.Column("initiated_by", sa.String(length=255), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("ts_us", sa.BigInteger(), nullable=False),
        sa.Column("config", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_fleet_config")),
    )
    op.create_table(
        "fleet_correlations",
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("gpu_uuid", sa.String(length=64), nullable=True),
        sa.Column("sm_id", sa.Integer(), nullable=True),
        sa.Column("pattern", sa.SmallInteger(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("severity", sa.SmallInteger(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("recommended_action", sa.Text(), nullable=False),
        sa.Column("events", sa.Text(), nullable=False),
        sa.Column("ts_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_fleet_correlations")),
    )
    with op.batch_alter_table("fleet_correlations", schema=None) as batch_op:
        batch_op.create_index("ix_fleet_correlations_gpu_ts", ["gpu_uuid", "ts_us"], unique=False)

    op.create_table(
        "fleet_directives",
        sa.Column("directive_id", sa.String(length=36), nullable=False),
        sa.Column("gpu_uuid", sa.String(length=64), nullable=False),
        sa.Column("action", sa.SmallInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("initiated_by", sa.String(length=255), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("ts_us", sa.BigInteger(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("requires_approval", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reviewer", sa.String(length=255), nullable=False),
        sa.Column("review_us", sa.BigInteger(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("directive_id", name=op.f("pk_fleet_directives")),
    )
    with op.batch_alter_table("fleet_directives", schema=None) as batch_op:
        batch_op.create_index("ix_fleet_directives_gpu_ts", ["gpu_uuid", "ts_us"], unique=False)
        batch_op.create_index(batch_op.f("ix_fleet_directives_status"), ["status"], unique=False)

    op.create_table(
        "fleet_gpus",
        sa.Column("uuid", sa.String(length=64), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column("device_index", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("driver_version", sa.String(length=64), nullable=False),
        sa.Column("firmware_version", sa.String(length=64), nullable=False),
        sa.Column("sm_count", sa.Integer(), nullable=False),
        sa.Column("state", sa.SmallInteger(), nullable=False),
        sa.Column("state_changed_us", sa.BigInteger(), nullable=False),
        sa.Column("state_change_reason", sa.Text(), nullable=False),
        sa.Column("alpha", sa.Float(), nullable=False),
        sa.Column("beta", sa.Float(), nullable=False),
        sa.Column("reliability_updated", sa.Float(), nullable=False),
        sa.Column("probe_pass_count", sa.BigInteger(), nullable=False),
        sa.Column("probe_fail_count", sa.BigInteger(), nullable=False),
        sa.Column("anomaly_count", sa.BigInteger(), nullable=False),
        sa.Column("last_probe_us", sa.BigInteger(), nullable=False),
        sa.Column("last_anomaly_us", sa.BigInteger(), nullable=False),
        sa.Column("passes_since_deep_test", sa.BigInteger(), nullable=False),
        sa.Column("deep_test_types", sa.Integer(), nullable=False),
        sa.Column("deep_test_failed", sa.Boolean(), nullable=False),
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("registered_us", sa.BigInteger(), nullable=False),
        sa.Column("sm_blob", sa.LargeBinary(), nullable=False),
        sa.Column("sm_disabled", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("uuid", name=op.f("pk_fleet_gpus")),
    )
    with op.batch_alter_table("fleet_gpus", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fleet_gpus_hostname"), ["hostname"], unique=False)
        batch_op.create_index(batch_op.f("ix_fleet_gpus_model"), ["model"], unique=False)

    op.create_table(
        "fleet_reliability_samples",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("gpu_uuid", sa.String(length=64), nullable=False),
        sa.Column("ts_us", sa.BigInteger(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("alpha", sa.Float(), nullable=False),
        sa.Column("beta", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fleet_reliability_samples")),
    )
    with op.batch_alter_table("fleet_reliability_samples", schema=None) as batch_op:
        batch_op.create_index(
            "ix_fleet_reliability_gpu_ts", ["gpu_uuid", "ts_us", "id"], unique=False
        )

    op.create_table(
        "fleet_telemetry",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("gpu_uuid", sa.String(length=64), nullable=False),
        sa.Column("ts_us", sa.BigInteger(), nullable=False),
        sa.Column("temperature_c", sa.Float(), nullable=False),
        sa.Column("power_w", sa.Float(), nullable=False),
        sa.Column("sm_clock_mhz", sa.Integer(), nullable=False),
        sa.Column("mem_clock_mhz", sa.Integer(), nullable=False),
        sa.Column("throttle_reasons", sa.BigInteger(), nullable=False),
        sa.Column("ecc_single_bit", sa.BigInteger(), nullable=False),
        sa.Column("ecc_double_bit", sa.BigInteger(), nullable=False),
        sa.Column("retired_rows", sa.Integer(), nullable=False),
        sa.Column("remapped_rows", sa.Integer(), nullable=False),
        sa.Column("xid_events", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fleet_telemetry")),
    )
    with op.batch_alter_table("fleet_telemetry", schema=None) as batch_op:
        batch_op.create_index("ix_fleet_telemetry_gpu_ts", ["gpu_uuid", "ts_us"], unique=False)

    op.create_table(
        "fleet_tmr_canaries",
        sa.Column("canary_id", sa.String(length=36), nullable=False),
        sa.Column("workload_seed", sa.BigInteger(), nullable=False),
        sa.Column("participants", sa.Text(), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("digests", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("canary_id", name=op.f("pk_fleet_tmr_canaries")),
    )
    op.create_table(
        "fleet_transitions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("gpu_uuid", sa.String(length=64), nullable=False),
        sa.Column("from_state", sa.SmallInteger(), nullable=False),
        sa.Column("to_state", sa.SmallInteger(), nullable=False),
        sa.Column("ts_us", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("initiated_by", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fleet_transitions")),
    )
    with op.batch_alter_table("fleet_transitions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_fleet_transitions_gpu_ts", ["gpu_uuid", "ts_us", "id"], unique=False
        )

    op.create_table(
        "fleet_trust_edges",
        sa.Column("gpu_a", sa.String(length=64), nullable=False),
        sa.Column("gpu_b", sa.String(length=64), nullable=False),
        sa.Column("agreement_count", sa.BigInteger(), nullable=False),
        sa.Column("disagreement_count", sa.BigInteger(), nullable=False),
        sa.Column("last_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("gpu_a", "gpu_b", name=op.f("pk_fleet_trust_edges")),
    )


def downgrade() -> None:
    op.drop_table("fleet_trust_edges")
    with op.batch_alter_table("fleet_transitions", schema=None) as batch_op:
        batch_op.drop_index("ix_fleet_transitions_gpu_ts")

    op.drop_table("fleet_transitions")
    op.drop_table("fleet_tmr_canaries")
    with op.batch_alter_table("fleet_telemetry", schema=None) as batch_op:
        batch_op.drop_index("ix_fleet_telemetry_gpu_ts")

    op.drop_table("fleet_telemetry")
    with op.batch_alter_table("fleet_reliability_samples", schema=None) as batch_op:
        batch_op.drop_index("ix_fleet_reliability_gpu_ts")

    op.drop_table("fleet_reliability_samples")
    with op.batch_alter_table("fleet_gpus", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fleet_gpus_model"))
        batch_op.drop_index(batch_op.f("ix_fleet_gpus_hostname"))

    op.drop_table("fleet_gpus")
    with op.batch_alter_table("fleet_directives", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fleet_directives_status"))
        batch_op.drop_index("ix_fleet_directives_gpu_ts")

    op.drop_table("fleet_directives")
    with op.batch_alter_table("fleet_correlations", schema=None) as batch_op:
        batch_op.drop_index("ix_fleet_correlations_gpu_ts")

    op.drop_table("fleet_correlations")
    op.drop_table("fleet_config")
    op.drop_table("fleet_agents")
