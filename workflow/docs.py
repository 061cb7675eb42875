"""Process documentation (流程说明) generated from the definitions: `docs/processes.md`.

`python -m workflow.docs > docs/processes.md` (`make docs`) writes it; a test fails when the
checked-in file and the definitions differ, so the documentation cannot drift from the code.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from workflow.model import (
    ACTION_LABELS,
    ROLE_LABELS,
    LimitBy,
    Permit,
    ProcessDefinition,
    Requirement,
    State,
    StepLimit,
    Transition,
)
from workflow.processes import PROCESSES
from workflow.sla import TimeUnit

REGENERATE = "python -m workflow.docs > docs/processes.md"

# Only these pages name units in Chinese; the API answers the unit codes.
_UNIT_WORDS: Mapping[TimeUnit, tuple[str, str]] = MappingProxyType(
    {
        TimeUnit.working_minutes: ("工作分钟", "working minutes"),
        TimeUnit.working_hours: ("工作小时", "working hours"),
        TimeUnit.working_days: ("工作日", "working days"),
        TimeUnit.minutes: ("分钟", "minutes"),
        TimeUnit.hours: ("小时", "hours"),
        TimeUnit.days: ("自然日", "days"),
    }
)

_NONE = "–"


def guard_sentence(row: Transition) -> str | None:
    """Return what a row's guard refuses (its docstring's first line), or None without a guard."""
    if row.guard is None or not row.guard.__doc__:
        return None
    return row.guard.__doc__.strip().splitlines()[0].strip()


def rows_by_state(definition: ProcessDefinition) -> tuple[Transition, ...]:
    """Return a process's rows grouped by source state (in `states` order), table order within."""
    return tuple(row for state in definition.states for row in definition.transitions_from(state))


def render_processes_markdown() -> str:
    """Render every process definition as Markdown, in Chinese and English."""
    parts = [_intro()]
    parts.extend(_process(definition) for definition in PROCESSES.values())
    return "\n".join(parts)


def _intro() -> str:
    codes = ", ".join(f"`{code}`" for code in PROCESSES)
    return (
        "# 流程定义 Process definitions\n"
        "\n"
        "Generated from `workflow/processes.py`, the definitions the workflow runs on; "
        f"do not edit by hand. Regenerate with `make docs` (`{REGENERATE}`).\n"
        "The same data answers `GET /api/v1/processes` and each case's `actions`.\n"
        "\n"
        f"Processes 流程: {codes}. In *needs*, `?` marks an optional field; every action also "
        "takes an optional `comment` and `photos`. *Who* names a role and, in brackets, the "
        "relation to the case that role must have. Time limits count working time on the work "
        "calendar unless they say otherwise; a case's category may set its own handling limit.\n"
    )


def _process(definition: ProcessDefinition) -> str:
    ends = ", ".join(
        _state(definition, state) for state in definition.states if state in definition.ends
    )
    return "\n".join(
        (
            f"## {definition.name} (`{definition.code}`)",
            "",
            f"开始 starts: {_state(definition, definition.initial)}; 终态 ends: {ends}.",
            "",
            f"### {definition.name}: 状态 states",
            "",
            _states_table(definition),
            "",
            f"### {definition.name}: 动作 actions",
            "",
            _transitions_table(definition),
            "",
        )
    )


def _states_table(definition: ProcessDefinition) -> str:
    leveled = bool(definition.levels)
    header = ["状态 state", "中文", "时限 time limit"] + (["层级 level"] if leveled else [])
    rows = []
    for state in definition.states:
        if state in definition.ends:
            limit = "终态 end"
        else:
            limit = _limit(definition.time_limits.get(state))
        cells = [f"`{state.value}`", definition.state_label(state), limit]
        if leveled:
            level = definition.levels.get(state)
            cells.append(f"`{level}`" if level else _NONE)
        rows.append(cells)
    return _table(header, rows)


def _transitions_table(definition: ProcessDefinition) -> str:
    header = [
        "状态 state",
        "动作 action",
        "中文",
        "→ 下一状态 next state",
        "谁 who",
        "需要 needs",
        "效果 effects",
        "条件 guard",
        "说明 note",
    ]
    rows = [
        [
            f"`{row.source.value}`",
            f"`{row.action.value}`",
            ACTION_LABELS[row.action],
            _state(definition, row.target) if row.target is not None else "不变 stays",
            "; ".join(_permit(permit) for permit in row.permits),
            _needs(row.requirements, row.min_photos),
            ", ".join(f"`{effect.value}`" for effect in row.effects),
            guard_sentence(row) or _NONE,
            row.note or _NONE,
        ]
        for row in rows_by_state(definition)
    ]
    return _table(header, rows)


def _state(definition: ProcessDefinition, state: State) -> str:
    return f"`{state.value}` {definition.state_label(state)}"


def _limit(limit: StepLimit | None) -> str:
    if limit is None:
        return _NONE
    if isinstance(limit, LimitBy):
        chosen = "; ".join(
            f"{limit.fact} `{value}`: {_limit(each)}" for value, each in limit.limits.items()
        )
        return f"{_limit(limit.otherwise)}; {chosen}"
    chinese, english = _UNIT_WORDS[limit.unit]
    if limit.amount == 1:
        english = english.replace("minutes", "minute").replace("hours", "hour")
        english = english.replace("days", "day")
    return f"{limit.amount:g} {chinese} {english}"


def _permit(permit: Permit) -> str:
    bound = f" (`{permit.relation.value}`)" if permit.relation is not None else ""
    return f"{ROLE_LABELS[permit.role]} `{permit.role.value}`{bound}"


def _needs(requirements: Iterable[Requirement], min_photos: int) -> str:
    needs = [
        f"`{need.field}{'' if need.required else '?'}` {need.kind.value}" for need in requirements
    ]
    if min_photos:
        needs.append(f"≥ {min_photos} 照片 photo{'s' if min_photos > 1 else ''}")
    return ", ".join(needs) or _NONE


def _table(header: list[str], rows: Iterable[list[str]]) -> str:
    lines = [_line(header), _line(["---"] * len(header))]
    lines.extend(_line(cells) for cells in rows)
    return "\n".join(lines)


def _line(cells: Iterable[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def main() -> int:
    sys.stdout.buffer.write(render_processes_markdown().encode("utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
