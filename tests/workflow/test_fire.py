"""The transition function against DESIGN §5, written out here independently of the code."""

from __future__ import annotations

from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workflow import (
    CLOCK_EFFECTS,
    HOTLINE_12345,
    PROCESSES,
    SOCIAL_GOVERNANCE,
    STATE_LABELS,
    URBAN_MANAGEMENT,
    Action,
    Effect,
    Facts,
    Permit,
    ProcessDefinition,
    Relation,
    Role,
    State,
    Transition,
    TransitionNotAllowed,
    UnknownAction,
    UnknownRole,
    UnknownState,
    WorkflowError,
    allowed_actions,
    fire,
    select,
)

# Reporters come through these channels; any of them may rate their own closed case.
REPORTER = {"grid_worker", "citizen", "hotline"}

# DESIGN §5, copied by hand: state -> action -> (next state, roles).
EXPECTED: dict[str, dict[str, tuple[str, set[str]]]] = {
    "reported": {
        "accept": ("accepted", {"acceptor"}),
        "request_check": ("checking", {"acceptor"}),
        "reject": ("void", {"acceptor"}),
        "merge": ("void", {"acceptor"}),
        "self_handle": ("self_handled", {"grid_worker"}),
    },
    "self_handled": {
        "approve_self_handling": ("closed", {"acceptor"}),
        "deny_self_handling": ("reported", {"acceptor"}),
    },
    "checking": {"check_reply": ("reported", {"grid_worker"})},
    "accepted": {"file": ("filed", {"shift_leader"}), "reject": ("void", {"shift_leader"})},
    "filed": {"dispatch": ("dispatched", {"dispatcher"}), "void": ("void", {"shift_leader"})},
    "dispatched": {"acknowledge": ("handling", {"handler"})},
    "handling": {
        "feedback": ("handled", {"handler"}),
        "request_return": ("return_requested", {"handler"}),
        "request_extension": ("extension_requested", {"handler"}),
        "request_suspension": ("suspension_requested", {"handler"}),
    },
    "return_requested": {
        "approve_return": ("filed", {"shift_leader"}),
        "deny_return": ("handling", {"shift_leader"}),
    },
    "extension_requested": {
        "approve_extension": ("handling", {"dispatcher", "shift_leader"}),
        "deny_extension": ("handling", {"dispatcher", "shift_leader"}),
    },
    "suspension_requested": {
        "approve_suspension": ("suspended", {"shift_leader"}),
        "deny_suspension": ("handling", {"shift_leader"}),
    },
    "suspended": {"resume": ("handling", {"dispatcher", "shift_leader"})},
    "handled": {"assign_verification": ("verifying", {"acceptor"})},
    "verifying": {"verify_reply": ("verified", {"grid_worker"})},
    "verified": {"close": ("closed", {"shift_leader"}), "rework": ("handling", {"shift_leader"})},
    "closed": {"evaluate": ("evaluated", {"supervisor"} | REPORTER)},
    "void": {},
    "evaluated": {},
}
ENDS = {"void", "evaluated"}
for _state, _actions in EXPECTED.items():
    if _state not in ENDS:
        _actions["supervise"] = (_state, {"shift_leader", "supervisor"})

ACTIONS = [
    "accept", "request_check", "reject", "merge", "self_handle", "approve_self_handling",
    "deny_self_handling", "check_reply", "file", "dispatch", "acknowledge", "void", "feedback",
    "request_return", "request_extension", "request_suspension", "approve_return",
    "deny_return", "approve_extension", "deny_extension", "approve_suspension",
    "deny_suspension", "resume",
    "assign_verification", "verify_reply", "close", "rework", "evaluate", "supervise",
]  # fmt: skip
ROLES = [
    "grid_worker", "acceptor", "dispatcher", "shift_leader", "handler", "dept_admin",
    "supervisor", "admin", "citizen", "hotline", "sensor",
]  # fmt: skip

# Facts under which every guard and relation holds, so only the table decides.
ALL_CLEAR = Facts(
    source="citizen",
    verification_passed=True,
    satisfied=True,
    satisfaction="satisfied",
    case_id=1,
    duplicate_of=2,
    relations=frozenset(Relation),
)


def _article(role: str) -> str:
    return "An" if role[0] in "aeiou" else "A"


@pytest.mark.parametrize("state", list(EXPECTED))
@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("role", ROLES)
def test_every_triple_matches_the_design(state: str, action: str, role: str) -> None:
    row = EXPECTED[state].get(action)
    if row is None:
        with pytest.raises(TransitionNotAllowed, match=f"^Can't {action} when in {state}: "):
            fire(URBAN_MANAGEMENT, state, action, role, ALL_CLEAR)
    elif role not in row[1]:
        sentence = f"^{_article(role)} {role} can't {action} when in {state}: "
        with pytest.raises(TransitionNotAllowed, match=sentence):
            fire(URBAN_MANAGEMENT, state, action, role, ALL_CLEAR)
    else:
        assert fire(URBAN_MANAGEMENT, state, action, role, ALL_CLEAR) == State(row[0])


def test_the_definition_has_exactly_the_designed_states_and_actions() -> None:
    assert set(URBAN_MANAGEMENT.states) == set(EXPECTED)
    assert set(URBAN_MANAGEMENT.actions) == set(ACTIONS)
    assert URBAN_MANAGEMENT.initial is State.reported
    assert URBAN_MANAGEMENT.ends == {State.void, State.evaluated}
    for state in URBAN_MANAGEMENT.states:
        assert set(URBAN_MANAGEMENT.actions_from(state)) == set(EXPECTED[state])


def test_the_sentence_and_attributes_of_a_refusal() -> None:
    with pytest.raises(TransitionNotAllowed) as caught:
        fire(URBAN_MANAGEMENT, "reported", "dispatch", "dispatcher")
    assert str(caught.value).startswith("Can't dispatch when in reported: waiting for")
    assert (caught.value.state, caught.value.action, caught.value.role) == (
        State.reported,
        Action.dispatch,
        Role.dispatcher,
    )
    with pytest.raises(TransitionNotAllowed) as caught:
        fire(URBAN_MANAGEMENT, "filed", "dispatch", "grid_worker")
    assert str(caught.value) == (
        "A grid_worker can't dispatch when in filed: waiting for the dispatcher to dispatch; "
        "the shift leader to void"
    )
    assert isinstance(caught.value, WorkflowError)


def test_supervise_keeps_the_state() -> None:
    assert (
        fire(URBAN_MANAGEMENT, State.handling, Action.supervise, Role.supervisor) is State.handling
    )
    assert URBAN_MANAGEMENT.transition(State.handling, Action.supervise).target is None


def test_unknown_names_raise_their_own_errors() -> None:
    with pytest.raises(UnknownAction, match=r"^Unknown action 'foo'$"):
        fire(URBAN_MANAGEMENT, "reported", "foo", "acceptor")
    # An action of another process is unknown to this one.
    with pytest.raises(UnknownAction, match="escalate"):
        fire(URBAN_MANAGEMENT, "reported", "escalate", "grid_worker")
    with pytest.raises(UnknownState):
        fire(URBAN_MANAGEMENT, "limbo", "accept", "acceptor")
    with pytest.raises(UnknownState):
        fire(URBAN_MANAGEMENT, "county_handling", "accept", "acceptor")
    with pytest.raises(UnknownRole):
        fire(URBAN_MANAGEMENT, "reported", "accept", "mayor")


def test_close_needs_a_passed_verification() -> None:
    for facts in (None, Facts(), Facts(verification_passed=False)):
        with pytest.raises(
            TransitionNotAllowed, match=r"^Can't close when verification did not pass$"
        ):
            fire(URBAN_MANAGEMENT, "verified", "close", "shift_leader", facts)
    assert (
        fire(URBAN_MANAGEMENT, "verified", "close", "shift_leader", Facts(verification_passed=True))
        is State.closed
    )
    # Rework needs no passed verification: it is what a failed one leads to.
    assert fire(URBAN_MANAGEMENT, "verified", "rework", "shift_leader") is State.handling


def test_merge_needs_another_case() -> None:
    with pytest.raises(TransitionNotAllowed, match="duplicate_of is not given"):
        fire(URBAN_MANAGEMENT, "reported", "merge", "acceptor")
    with pytest.raises(TransitionNotAllowed, match="into itself"):
        fire(URBAN_MANAGEMENT, "reported", "merge", "acceptor", Facts(case_id=4, duplicate_of=4))
    assert (
        fire(URBAN_MANAGEMENT, "reported", "merge", "acceptor", Facts(case_id=4, duplicate_of=3))
        is State.void
    )


def test_request_check_is_for_reports_not_from_grid_workers() -> None:
    with pytest.raises(TransitionNotAllowed, match="grid worker reported"):
        fire(URBAN_MANAGEMENT, "reported", "request_check", "acceptor", Facts(source="grid_worker"))
    for source in ("citizen", "hotline", "sensor"):
        facts = Facts(source=source)
        assert (
            fire(URBAN_MANAGEMENT, "reported", "request_check", "acceptor", facts) is State.checking
        )


@pytest.mark.parametrize(
    ("state", "action", "role", "relation"),
    [
        ("verifying", "verify_reply", "grid_worker", Relation.assigned_verifier),
        ("checking", "check_reply", "grid_worker", Relation.assigned_checker),
        ("reported", "self_handle", "grid_worker", Relation.reporter),
        ("dispatched", "acknowledge", "handler", Relation.department_member),
        ("closed", "evaluate", "citizen", Relation.reporter),
        ("closed", "evaluate", "grid_worker", Relation.reporter),
        ("handling", "feedback", "handler", Relation.department_member),
    ],
)
def test_relations_bind_the_actor(state: str, action: str, role: str, relation: Relation) -> None:
    row = URBAN_MANAGEMENT.transition(State(state), Action(action))
    assert row is not None and row.relation_for(Role(role)) is relation
    # Relations unknown (None): the service checks them itself.
    assert fire(URBAN_MANAGEMENT, state, action, role, Facts(relations=None)) == row.target
    others = frozenset(Relation) - {relation}
    with pytest.raises(TransitionNotAllowed, match=f"^Only .* can {action} when in {state}: "):
        fire(URBAN_MANAGEMENT, state, action, role, Facts(relations=others))
    assert (
        fire(URBAN_MANAGEMENT, state, action, role, Facts(relations=frozenset({relation})))
        == row.target
    )


def test_the_supervisor_evaluates_any_case_the_reporter_only_their_own() -> None:
    row = URBAN_MANAGEMENT.transition(State.closed, Action.evaluate)
    assert row is not None
    assert row.relation_for(Role.supervisor) is None
    assert row.roles == {Role.supervisor, Role.grid_worker, Role.citizen, Role.hotline}
    nobody = Facts(relations=frozenset())
    assert fire(URBAN_MANAGEMENT, "closed", "evaluate", "supervisor", nobody) is State.evaluated
    with pytest.raises(TransitionNotAllowed, match="Only the reporter"):
        fire(URBAN_MANAGEMENT, "closed", "evaluate", "citizen", nobody)


def test_every_row_has_exactly_one_clock_effect() -> None:
    for definition in PROCESSES.values():
        for row in definition.transitions:
            clocks = [effect for effect in row.effects if effect in CLOCK_EFFECTS]
            assert len(clocks) == 1, (definition.code, row.source, row.action)


def test_urban_clock_effects_are_the_ones_design_names() -> None:
    unusual = {
        (row.source, row.action): row.clock
        for row in URBAN_MANAGEMENT.transitions
        if row.clock not in (Effect.start_clock, Effect.stop_clock)
        and row.action is not Action.supervise
    }
    assert unusual == {
        # 立案+派遣 share one limit from acceptance.
        (State.accepted, Action.file): Effect.carry_clock,
        (State.handling, Action.request_return): Effect.keep_clock,
        (State.handling, Action.request_extension): Effect.keep_clock,
        (State.handling, Action.request_suspension): Effect.keep_clock,
        (State.return_requested, Action.deny_return): Effect.keep_clock,
        (State.extension_requested, Action.approve_extension): Effect.extend_clock,
        (State.extension_requested, Action.deny_extension): Effect.keep_clock,
        (State.suspension_requested, Action.approve_suspension): Effect.pause_clock,
        (State.suspension_requested, Action.deny_suspension): Effect.keep_clock,
        (State.suspended, Action.resume): Effect.resume_clock,
    }
    ends = {row.action for row in URBAN_MANAGEMENT.transitions if row.clock is Effect.stop_clock}
    assert ends == {Action.reject, Action.merge, Action.void, Action.evaluate}


def test_two_clock_effects_on_one_row_are_refused() -> None:
    row = Transition(
        State.reported,
        Action.accept,
        State.accepted,
        (Permit(Role.acceptor),),
        effects=(Effect.start_clock, Effect.pause_clock),
    )
    with pytest.raises(WorkflowError, match="two clocks"):
        ProcessDefinition("x", "x", State.reported, frozenset({State.accepted}), (row,))


def test_a_refusal_says_who_is_waited_on() -> None:
    with pytest.raises(TransitionNotAllowed) as caught:
        fire(URBAN_MANAGEMENT, "reported", "dispatch", "dispatcher")
    assert "waiting for the acceptor to accept" in caught.value.message
    assert caught.value.waiting_for[0] == {
        "role": "acceptor",
        "relation": None,
        "actions": ["accept", "request_check", "reject", "merge"],
    }
    with pytest.raises(TransitionNotAllowed, match="waiting for the dispatcher to dispatch"):
        fire(URBAN_MANAGEMENT, "filed", "feedback", "handler")


def test_actions_for_a_role_and_allowed_actions() -> None:
    assert URBAN_MANAGEMENT.actions_for(State.handling, Role.handler) == (
        Action.feedback,
        Action.request_return,
        Action.request_extension,
        Action.request_suspension,
    )
    assert URBAN_MANAGEMENT.actions_for(State.handling, Role.grid_worker) == ()
    assert URBAN_MANAGEMENT.actions_for(State.verified, Role.shift_leader) == (
        Action.close,
        Action.rework,
        Action.supervise,
    )
    # Guards count in allowed_actions: no passed verification, no close.
    assert allowed_actions(URBAN_MANAGEMENT, "verified", "shift_leader") == (
        Action.rework,
        Action.supervise,
    )
    assert select(URBAN_MANAGEMENT, "filed", "dispatch", "dispatcher").target is State.dispatched
    assert URBAN_MANAGEMENT.actions_for(State.dispatched, Role.handler) == (Action.acknowledge,)


def test_every_state_has_a_chinese_label() -> None:
    assert set(STATE_LABELS) == set(State)
    assert STATE_LABELS[State.reported] == "待受理"
    assert STATE_LABELS[State.verified] == "待结案"


def test_processes_by_code() -> None:
    assert set(PROCESSES) == {"urban", "social", "hotline"}
    assert PROCESSES["urban"] is URBAN_MANAGEMENT
    for definition in PROCESSES.values():
        assert set(definition.time_limits) <= set(definition.states)


def test_a_malformed_table_is_refused() -> None:
    row = Transition(State.reported, Action.accept, State.accepted, (Permit(Role.acceptor),))
    with pytest.raises(WorkflowError, match="twice"):
        ProcessDefinition("x", "x", State.reported, frozenset({State.accepted}), (row, row))
    out_of_end = Transition(State.accepted, Action.file, State.filed, (Permit(Role.acceptor),))
    with pytest.raises(WorkflowError, match="end state"):
        ProcessDefinition("x", "x", State.reported, frozenset({State.accepted}), (row, out_of_end))


# Structure of every process: reachability and walks.


def _graph(definition: ProcessDefinition) -> dict[State, set[State]]:
    graph: dict[State, set[State]] = {state: set() for state in definition.states}
    for row in definition.transitions:
        graph[row.source].add(row.target if row.target is not None else row.source)
    return graph


def _reach(graph: dict[State, set[State]], start: State) -> set[State]:
    seen, todo = {start}, deque([start])
    while todo:
        for following in graph[todo.popleft()]:
            if following not in seen:
                seen.add(following)
                todo.append(following)
    return seen


@pytest.mark.parametrize("definition", list(PROCESSES.values()), ids=list(PROCESSES))
def test_every_state_is_reachable_and_can_end(definition: ProcessDefinition) -> None:
    graph = _graph(definition)
    assert _reach(graph, definition.initial) == set(definition.states)
    for state in definition.states:
        assert _reach(graph, state) & definition.ends, f"{state} can't reach an end"
    for end in definition.ends:
        assert definition.actions_from(end) == ()


@pytest.mark.parametrize("definition", list(PROCESSES.values()), ids=list(PROCESSES))
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_random_walks_stay_inside_the_process(
    definition: ProcessDefinition, data: st.DataObject
) -> None:
    state = definition.initial
    for _ in range(30):
        rows = definition.transitions_from(state)
        if state in definition.ends:
            assert rows == ()
            return
        # Guards may exclude each other (a hotline call-back closes or redoes, never both), and
        # a window without its facts refuses: walk the moves these facts allow.
        moves = [
            (row.action, role)
            for row in rows
            for role in row.roles
            if _allowed(definition, state, row.action, role)
        ]
        assert moves, f"{state} is a dead end"
        action, role = data.draw(st.sampled_from(moves))
        state = fire(definition, state, action, role, ALL_CLEAR)
        assert state in definition.states


# The social process (issue 9), copied by hand: state -> action -> (next state, roles).
SOCIAL_EXPECTED: dict[str, dict[str, tuple[str, set[str]]]] = {
    "reported": {
        "self_handle": ("self_handled", {"grid_worker"}),
        "escalate": ("community_accepting", {"grid_worker"}),
        "reject": ("void", {"dispatcher"}),
    },
    "self_handled": {
        "approve_self_handling": ("closed", {"dispatcher"}),
        "deny_self_handling": ("reported", {"dispatcher"}),
    },
    "community_accepting": {
        "accept": ("community_handling", {"dispatcher"}),
        "reject": ("void", {"dispatcher"}),
    },
    "community_handling": {
        "feedback": ("handled", {"dispatcher"}),
        "escalate": ("street_accepting", {"dispatcher"}),
    },
    "street_accepting": {
        "accept": ("street_handling", {"dispatcher"}),
        "reject": ("void", {"dispatcher"}),
    },
    "street_handling": {
        "feedback": ("handled", {"dispatcher"}),
        "escalate": ("county_accepting", {"dispatcher"}),
    },
    "county_accepting": {
        "accept": ("county_handling", {"dispatcher"}),
        "reject": ("void", {"dispatcher"}),
    },
    "county_handling": {"feedback": ("handled", {"dispatcher"})},
    "handled": {
        "close": ("closed", {"shift_leader", "grid_worker"}),
        "rework": ("community_handling", {"shift_leader", "grid_worker"}),
    },
}


def test_the_social_table_matches_the_issue_row_by_row() -> None:
    p = SOCIAL_GOVERNANCE
    for state, actions in SOCIAL_EXPECTED.items():
        found = {
            row.action.value: (row.target.value if row.target else None, set(row.roles))
            for row in p.transitions_from(State(state))
            if row.action is not Action.supervise
        }
        assert found == actions, state
    assert p.ends == {State.closed, State.void}
    # Each centre row binds the dispatcher to the centre of the level holding the case.
    for row in p.transitions:
        if row.permits_role(Role.dispatcher) and row.action is not Action.supervise:
            assert row.relation_for(Role.dispatcher) is Relation.holding_center
            assert row.source in p.levels
    held = ("self_handled", "street_accepting", "county_handling")
    assert [p.levels[State(s)] for s in held] == ["community", "street", "district"]


def _allowed(definition: ProcessDefinition, state: State, action: Action, role: Role) -> bool:
    try:
        select(definition, state, action, role, ALL_CLEAR)
    except TransitionNotAllowed:
        return False
    return True


def test_social_events_escalate_level_by_level() -> None:
    p, clear = SOCIAL_GOVERNANCE, ALL_CLEAR
    assert fire(p, "reported", "self_handle", "grid_worker", clear) is State.self_handled
    assert fire(p, "self_handled", "approve_self_handling", "dispatcher", clear) is State.closed
    assert fire(p, "self_handled", "deny_self_handling", "dispatcher", clear) is State.reported
    state = fire(p, "reported", "escalate", "grid_worker", clear)
    assert state is State.community_accepting
    # A level accepts (受理) before it handles or passes the event up.
    with pytest.raises(TransitionNotAllowed, match=r"^Can.t escalate when in community_accepting"):
        fire(p, state, "escalate", "dispatcher", clear)
    for accepting, handling, above in (
        (State.community_accepting, State.community_handling, State.street_accepting),
        (State.street_accepting, State.street_handling, State.county_accepting),
    ):
        assert state is accepting
        state = fire(p, state, "accept", "dispatcher", clear)
        assert state is handling
        state = fire(p, state, "escalate", "dispatcher", clear)
        assert state is above
    state = fire(p, state, "accept", "dispatcher", clear)
    assert state is State.county_handling
    with pytest.raises(TransitionNotAllowed, match=r"^Can.t escalate when in county_handling: "):
        fire(p, state, "escalate", "dispatcher", clear)
    state = fire(p, state, "feedback", "dispatcher", clear)
    assert state is State.handled
    assert fire(p, state, "rework", "shift_leader", clear) is State.community_handling
    assert fire(p, state, "close", "grid_worker", clear) is State.closed
    with pytest.raises(TransitionNotAllowed, match="Only the reporter"):
        fire(p, state, "close", "grid_worker", Facts(relations=frozenset()))
    with pytest.raises(TransitionNotAllowed, match="holding"):
        fire(p, "self_handled", "approve_self_handling", "dispatcher", Facts(relations=frozenset()))


def test_social_levels_have_their_own_limits() -> None:
    p = SOCIAL_GOVERNANCE
    limits = {
        state: (limit.amount, limit.unit.value)
        for state in p.states
        if (limit := p.limit_for(state)) is not None
    }
    assert limits == {
        State.reported: (2, "working_hours"),
        State.self_handled: (1, "working_days"),
        State.community_accepting: (2, "working_hours"),
        State.community_handling: (3, "working_days"),
        State.street_accepting: (4, "working_hours"),
        State.street_handling: (5, "working_days"),
        State.county_accepting: (1, "working_days"),
        State.county_handling: (10, "working_days"),
        State.handled: (1, "working_days"),
    }


def test_hotline_dispatches_acknowledges_replies_and_calls_back() -> None:
    p = HOTLINE_12345
    state = State.reported
    for action, role in [
        ("accept", "hotline_operator"),
        ("dispatch", "hotline_operator"),
        ("acknowledge", "handler"),
        ("feedback", "handler"),
        ("call_back", "hotline_operator"),
    ]:
        state = fire(p, state, action, role, ALL_CLEAR)
    assert state is State.called_back
    unsatisfied = Facts(satisfaction="unsatisfied", rework_count=0)
    with pytest.raises(TransitionNotAllowed, match="not redone"):
        fire(p, state, "close", "hotline_operator", unsatisfied)
    assert fire(p, state, "rework", "hotline_operator", unsatisfied) is State.handling
    again = Facts(satisfaction="unsatisfied", rework_count=1)
    with pytest.raises(TransitionNotAllowed, match="more than once"):
        fire(p, state, "rework", "hotline_operator", again)
    assert fire(p, state, "close", "hotline_operator", again) is State.closed
    # A question answered on the call closes at once (直接答复).
    assert fire(p, "reported", "reply", "hotline_operator") is State.closed


def test_a_hotline_call_back_that_never_reaches_the_citizen_closes_after_three_tries() -> None:
    p = HOTLINE_12345
    for tries in (1, 2):
        unreached = Facts(unreached_calls=tries)
        assert fire(p, "called_back", "call_back", "hotline_operator", unreached) is (
            State.called_back
        )
        with pytest.raises(TransitionNotAllowed, match="every attempt failed"):
            fire(p, "called_back", "close", "hotline_operator", unreached)
    given_up = Facts(unreached_calls=3)
    with pytest.raises(TransitionNotAllowed, match="every attempt failed"):
        fire(p, "called_back", "call_back", "hotline_operator", given_up)
    assert fire(p, "called_back", "close", "hotline_operator", given_up) is State.closed
    reached = Facts(satisfaction="basically_satisfied", unreached_calls=1)
    with pytest.raises(TransitionNotAllowed, match="was reached"):
        fire(p, "called_back", "call_back", "hotline_operator", reached)


def test_a_refusal_names_the_check_that_refused() -> None:
    from workflow import Refusal

    cases = [
        (("reported", "dispatch", "dispatcher", None), Refusal.state, None),
        (("filed", "dispatch", "grid_worker", None), Refusal.role, None),
        (
            ("closed", "evaluate", "citizen", Facts(relations=frozenset())),
            Refusal.relation,
            "reporter",
        ),
        (
            ("verified", "close", "shift_leader", Facts(verification_passed=False)),
            Refusal.guard,
            None,
        ),
    ]
    for (state, action, role, facts), reason, relation in cases:
        with pytest.raises(TransitionNotAllowed) as caught:
            fire(URBAN_MANAGEMENT, state, action, role, facts)
        assert (caught.value.reason, caught.value.relation) == (reason, relation)
        assert caught.value.process == "urban"


def test_a_second_extension_needs_the_shift_leader() -> None:
    for role in ("dispatcher", "shift_leader"):
        facts = Facts(extension_count=0, role=Role(role))
        assert (
            fire(URBAN_MANAGEMENT, "extension_requested", "approve_extension", role, facts)
            is State.handling
        )
    with pytest.raises(TransitionNotAllowed, match="only the shift leader may"):
        fire(
            URBAN_MANAGEMENT,
            "extension_requested",
            "approve_extension",
            "dispatcher",
            Facts(extension_count=1, role=Role.dispatcher),
        )
    leader = Facts(extension_count=2, role=Role.shift_leader)
    assert (
        fire(URBAN_MANAGEMENT, "extension_requested", "approve_extension", "shift_leader", leader)
        is State.handling
    )
    # A forgotten role refuses the second one, as a forgotten fact does.
    with pytest.raises(TransitionNotAllowed):
        fire(
            URBAN_MANAGEMENT,
            "extension_requested",
            "approve_extension",
            "shift_leader",
            Facts(extension_count=1),
        )


def test_self_handling_waits_for_the_acceptor_and_a_denial_needs_a_reason() -> None:
    assert fire(URBAN_MANAGEMENT, "reported", "self_handle", "grid_worker") is State.self_handled
    deny = URBAN_MANAGEMENT.transition(State.self_handled, Action.deny_self_handling)
    assert deny is not None and deny.required_fields == {"reason"}
    approve = URBAN_MANAGEMENT.transition(State.self_handled, Action.approve_self_handling)
    assert approve is not None and Effect.record_closure in approve.effects
    self_handle = URBAN_MANAGEMENT.transition(State.reported, Action.self_handle)
    assert self_handle is not None and self_handle.min_photos == 1
    assert Effect.record_closure not in self_handle.effects


def test_a_return_is_approved_by_the_shift_leader_and_re_dispatched() -> None:
    assert fire(URBAN_MANAGEMENT, "return_requested", "approve_return", "shift_leader") is (
        State.filed
    )
    approve = URBAN_MANAGEMENT.transition(State.return_requested, Action.approve_return)
    assert approve is not None and Effect.clear_department in approve.effects
    assert Effect.notify_next_actor in approve.effects
    assert fire(URBAN_MANAGEMENT, "filed", "dispatch", "dispatcher") is State.dispatched


def test_the_department_acknowledges_before_its_handling_clock_starts() -> None:
    dispatch = URBAN_MANAGEMENT.transition(State.filed, Action.dispatch)
    acknowledge = URBAN_MANAGEMENT.transition(State.dispatched, Action.acknowledge)
    assert dispatch is not None and acknowledge is not None
    assert Effect.notify_next_actor in dispatch.effects
    assert acknowledge.clock is Effect.start_clock
    assert acknowledge.relation_for(Role.handler) is Relation.department_member


def test_every_filing_records_when() -> None:
    # The dashboard's filed count is a range of case.filed_at (migration 0020), not a look
    # into every case's history: a filing row that did not record it would go uncounted.
    for definition in PROCESSES.values():
        for row in definition.transitions:
            if row.action is Action.file:
                assert Effect.record_filing in row.effects, (definition.code, row.target)


def test_every_row_into_closed_records_the_closure() -> None:
    # The lists, the dashboard and the tiles read "live" as closed_at IS NULL (migration 0019's
    # partial indexes): a row that closed a case without recording it would leave it live.
    for definition in PROCESSES.values():
        for row in definition.transitions:
            if row.target is State.closed:
                assert Effect.record_closure in row.effects, (definition.code, row.action)
