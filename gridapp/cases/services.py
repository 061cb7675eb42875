"""The cases domain's use cases, for its blueprint, the phone API, jobs and other domains.

Where each is decided: intake in `intake`, actions in `actions` (what each does in
`effects`, one function per `workflow.Effect`), the clock in `clock`, reading in `queries`.
"""

from gridapp.cases.actions import (
    SYSTEM_ROLE,
    Acted,
    act_on_case,
    apply_transition,
    available_actions,
    commit_for_answer,
    note_case,
    parse_if_match,
    system_action,
)
from gridapp.cases.clock import case_sla
from gridapp.cases.duplicates import (
    FINISHED_STATES,
    Duplicate,
    find_open_case,
    likely_duplicates,
    may_merge,
    open_case,
)
from gridapp.cases.history import latest_event, verify_chain, verify_every_chain
from gridapp.cases.intake import (
    Reported,
    find_reported,
    receive_case,
    report_case,
    request_fingerprint,
    take_case,
)
from gridapp.cases.queries import (
    CaseFilters,
    CaseSort,
    case_history,
    cases_changed_since,
    count_cases,
    get_case,
    list_cases,
    open_tasks,
    suggest_department,
    task_kind,
    with_names,
    worker_tasks,
)
from gridapp.cases.scope import case_scope
from gridapp.cases.sla import sweep_sla
from gridapp.cases.tiles import case_tile

__all__ = [
    "FINISHED_STATES",
    "SYSTEM_ROLE",
    "Acted",
    "CaseFilters",
    "CaseSort",
    "Duplicate",
    "Reported",
    "act_on_case",
    "apply_transition",
    "available_actions",
    "case_history",
    "case_scope",
    "case_sla",
    "case_tile",
    "cases_changed_since",
    "commit_for_answer",
    "count_cases",
    "find_open_case",
    "find_reported",
    "get_case",
    "latest_event",
    "likely_duplicates",
    "list_cases",
    "may_merge",
    "note_case",
    "open_case",
    "open_tasks",
    "parse_if_match",
    "receive_case",
    "report_case",
    "request_fingerprint",
    "suggest_department",
    "sweep_sla",
    "system_action",
    "take_case",
    "task_kind",
    "verify_chain",
    "verify_every_chain",
    "with_names",
    "worker_tasks",
]
