"""The forecast domain's table: what operators did (rollbacks, retrains), by whom."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, cast

from sqlalchemy import BigInteger, Engine, Index, Integer, String, Table, Text, insert, select
from sqlalchemy.orm import Mapped, mapped_column

from sentinel.core.db import Base


class ActionRow(Base):
    """One operator action on a series."""

    __tablename__ = "forecast_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_us: Mapped[int] = mapped_column(BigInteger)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(32))
    series: Mapped[str] = mapped_column(String(1024))
    detail: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index("ix_forecast_actions_created", "created_us"),)


_ACTIONS = cast(Table, ActionRow.__table__)


@dataclass(frozen=True)
class Action:
    """An operator action as pages list it."""

    created: datetime
    actor: str
    action: str
    series: str
    detail: dict[str, Any]


class ActionStore:
    """Records and lists operator actions (SQLite and PostgreSQL alike)."""

    def __init__(self, db: Engine) -> None:
        self.db = db

    def record(self, actor: str, action: str, series: str, detail: dict[str, Any]) -> None:
        with self.db.begin() as conn:
            conn.execute(
                insert(_ACTIONS).values(
                    created_us=int(time.time() * 1e6),
                    actor=actor,
                    action=action,
                    series=series[:1024],
                    detail=json.dumps(detail),
                )
            )

    def recent(self, series: str = "", limit: int = 20) -> list[Action]:
        q = select(_ACTIONS).order_by(_ACTIONS.c.id.desc()).limit(limit)
        if series:
            q = q.where(_ACTIONS.c.series == series)
        with self.db.connect() as conn:
            rows = conn.execute(q).all()
        return [
            Action(
                created=datetime.fromtimestamp(r.created_us / 1e6, tz=timezone.utc),
                actor=r.actor,
                action=r.action,
                series=r.series,
                detail=json.loads(r.detail),
            )
            for r in rows
        ]
