"""A generated database evaluated by the real evaluation code (``bench.generate``'s histories).

The recompute row of ``bench_evaluation`` counts what the generated events record; histories
without the facts the workflow writes (the department a dispatch named, each step's deadline)
would count nothing and time only the loading.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

import workflow
from bench.demo_db import offline_config, release_db, seed_demo_county
from bench.generate import SIZES, generate


def _hand_count(url: str, department: str) -> tuple[int, int]:
    """Count, from the stored rows alone, the stays with ``department`` (dispatches not
    returned) and those handled in time: signed for (签收) and fed back before their deadlines,
    any extension approved before the deadline it moved."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT case_id, action, created_at, data FROM case_event ORDER BY case_id, seq"
                )
            ).all()
    finally:
        engine.dispose()
    histories: dict[int, list[tuple[str, str, dict[str, Any]]]] = defaultdict(list)
    for case_id, action, at, data in rows:
        histories[case_id].append((action, str(at), json.loads(data or "{}")))
    stays = on_time = 0
    for events in histories.values():
        starts = [i for i, (action, _, _) in enumerate(events) if action == "dispatch"]
        for n, first in enumerate(starts):
            if events[first][2].get("department") != department:
                continue
            stay = events[first + 1 : starts[n + 1] if n + 1 < len(starts) else len(events)]
            if any(action == "approve_return" for action, _, _ in stay):
                continue
            stays += 1
            good = True
            for action, at, data in stay:
                if action in ("acknowledge", "feedback"):
                    good = good and data["step"]["on_time"] is True
                if action == "approve_extension":
                    approved = datetime.fromisoformat(at).replace(tzinfo=UTC)
                    good = good and approved <= datetime.fromisoformat(data["previous_deadline"])
                if action == "feedback":
                    on_time += good
                    break
    return stays, on_time


def test_a_generated_database_gives_departments_their_counts(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'generated.db'}"
    from gridapp import create_app
    from gridapp.core.extensions import db
    from gridapp.evaluation.services import count_live

    config = offline_config(url, tmp_path)
    seed_demo_county(config)
    generate(url, SIZES["test"], seed=2026)
    release_db()
    app = create_app(config)
    now = datetime.now(UTC)
    with app.app_context():
        session = db.session()
        first = session.execute(text('SELECT min(created_at) FROM "case"')).scalar_one()
        first_day = workflow.local_day(datetime.fromisoformat(str(first)).replace(tzinfo=UTC))
        counts: dict[str, Counter[str]] = defaultdict(Counter)
        for item in count_live(
            session,
            workflow.Kind.departments,
            "street",
            first_day,
            workflow.local_day(now),
            None,
            now,
        ):
            counts[item.hit.subject][item.counter] += 1
        session.close()
    release_db()
    assert counts, "every department counted nothing"
    department = max(counts, key=lambda code: counts[code]["due"])
    got = counts[department]
    stays, on_time = _hand_count(url, department)
    # Every stay not returned falls due (handled, or its deadline passed while it waited);
    # most are handled in time, some late, a few closed after verification.
    assert 0 < got["due_on_time"] < got["due"] <= stays
    assert got["due"] >= 0.9 * stays
    assert got["due_on_time"] == on_time
    assert 0 < got["due_closed"] <= got["due"]
    assert got["reworks"] > 0
    for code, counted in counts.items():
        assert counted["due_on_time"] <= counted["due"], code
