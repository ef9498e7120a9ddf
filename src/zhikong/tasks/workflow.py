"""The task state machine as an explicit table: (state, action) → (new state, roles allowed).

::

    created ─assign─▶ assigned ─sign_for─▶ signed_for ─start─▶ in_progress ─submit─▶ submitted
                         ▲                                          ▲                 │   │
                         │ reassign (from any open state)           └─start─ returned ◀return
                         │                                                           accept▼
    open states ─escalate (overdue; worker or supervision)─▶ escalated            accepted
    escalated: push (new deadline) · reassign · close (supervision) · start/submit (the unit)
    open states ─close─▶ closed

Checks, in order: the role may do the action at all (else ``PermissionDenied``); the action is
allowed from the current state (else ``Conflict``); the role may do it from this state (else
``PermissionDenied``). Jurisdiction is checked by the service (the task must be visible to the user).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from zhikong.auth.models import Role
from zhikong.tasks.models import TaskState


class Action(enum.StrEnum):
    ASSIGN = "assign"  # 交办
    SIGN_FOR = "sign_for"  # 签收
    START = "start"  # 开始处置
    SUBMIT = "submit"  # 反馈
    ACCEPT = "accept"  # 验收办结
    RETURN = "return"  # 退回
    ESCALATE = "escalate"  # 督办
    PUSH = "push"  # 催办
    REASSIGN = "reassign"  # 改派
    CLOSE = "close"  # 关闭


R = Role
#: who dispatches work (交办, 改派)
DISPATCH = frozenset({R.DISTRICT_COMMAND, R.SUPERVISION, R.TOWN_OPERATOR})
#: who handles work on the ground (签收, 处置, 反馈)
HANDLERS = frozenset({R.TOWN_OPERATOR, R.VILLAGE_OPERATOR, R.VIDEO_PATROLLER, R.ISOLATION_STAFF})
#: who checks feedback (验收, 退回); a town operator only for units below its own
REVIEW = frozenset({R.DISTRICT_COMMAND, R.SUPERVISION, R.TOWN_OPERATOR})
#: who may escalate by hand and close
SUPERVISE = frozenset({R.DISTRICT_COMMAND, R.SUPERVISION})
#: the supervision group's own actions on escalated tasks
SUPERVISION_ONLY = frozenset({R.SUPERVISION})

S = TaskState
A = Action

#: states in which the work is still open
OPEN_STATES = frozenset(
    {S.CREATED, S.ASSIGNED, S.SIGNED_FOR, S.IN_PROGRESS, S.SUBMITTED, S.RETURNED, S.ESCALATED}
)
#: states a task leaves for ``escalated`` when its deadline passes (submitted waits for review)
ESCALATABLE = frozenset({S.ASSIGNED, S.SIGNED_FOR, S.IN_PROGRESS, S.RETURNED})
FINAL_STATES = frozenset({S.ACCEPTED, S.CLOSED})


@dataclass(frozen=True)
class Transition:
    to: TaskState
    roles: frozenset[Role]


TRANSITIONS: dict[tuple[TaskState, Action], Transition] = {
    (S.CREATED, A.ASSIGN): Transition(S.ASSIGNED, DISPATCH),
    (S.CREATED, A.CLOSE): Transition(S.CLOSED, SUPERVISE),
    (S.ASSIGNED, A.SIGN_FOR): Transition(S.SIGNED_FOR, HANDLERS),
    (S.ASSIGNED, A.REASSIGN): Transition(S.ASSIGNED, DISPATCH),
    (S.ASSIGNED, A.ESCALATE): Transition(S.ESCALATED, SUPERVISE),
    (S.ASSIGNED, A.CLOSE): Transition(S.CLOSED, SUPERVISE),
    (S.SIGNED_FOR, A.START): Transition(S.IN_PROGRESS, HANDLERS),
    (S.SIGNED_FOR, A.REASSIGN): Transition(S.ASSIGNED, DISPATCH),
    (S.SIGNED_FOR, A.ESCALATE): Transition(S.ESCALATED, SUPERVISE),
    (S.SIGNED_FOR, A.CLOSE): Transition(S.CLOSED, SUPERVISE),
    (S.IN_PROGRESS, A.SUBMIT): Transition(S.SUBMITTED, HANDLERS),
    (S.IN_PROGRESS, A.REASSIGN): Transition(S.ASSIGNED, DISPATCH),
    (S.IN_PROGRESS, A.ESCALATE): Transition(S.ESCALATED, SUPERVISE),
    (S.IN_PROGRESS, A.CLOSE): Transition(S.CLOSED, SUPERVISE),
    (S.SUBMITTED, A.ACCEPT): Transition(S.ACCEPTED, REVIEW),
    (S.SUBMITTED, A.RETURN): Transition(S.RETURNED, REVIEW),
    (S.SUBMITTED, A.CLOSE): Transition(S.CLOSED, SUPERVISE),
    (S.RETURNED, A.START): Transition(S.IN_PROGRESS, HANDLERS),
    (S.RETURNED, A.SUBMIT): Transition(S.SUBMITTED, HANDLERS),
    (S.RETURNED, A.REASSIGN): Transition(S.ASSIGNED, DISPATCH),
    (S.RETURNED, A.ESCALATE): Transition(S.ESCALATED, SUPERVISE),
    (S.RETURNED, A.CLOSE): Transition(S.CLOSED, SUPERVISE),
    (S.ESCALATED, A.PUSH): Transition(S.ESCALATED, SUPERVISION_ONLY),
    (S.ESCALATED, A.REASSIGN): Transition(S.ASSIGNED, SUPERVISE),
    (S.ESCALATED, A.CLOSE): Transition(S.CLOSED, SUPERVISE),
    (S.ESCALATED, A.START): Transition(S.IN_PROGRESS, HANDLERS),
    (S.ESCALATED, A.SUBMIT): Transition(S.SUBMITTED, HANDLERS),
}

#: every role that may do an action from at least one state
ACTION_ROLES: dict[Action, frozenset[Role]] = {
    a: frozenset().union(*(t.roles for (_, act), t in TRANSITIONS.items() if act == a)) for a in Action
}

#: actions that need a reason (why) and actions that need a target unit or a new deadline
REASON_REQUIRED = frozenset({A.RETURN, A.CLOSE, A.REASSIGN, A.PUSH, A.ESCALATE})
FEEDBACK_REQUIRED = frozenset({A.SUBMIT})
UNIT_REQUIRED = frozenset({A.REASSIGN})
DEADLINE_REQUIRED = frozenset({A.PUSH})


def allowed_actions(state: TaskState, role: Role) -> list[Action]:
    """Actions ``role`` may take on a task in ``state`` (for buttons in the UI)."""
    return [a for (s, a), t in TRANSITIONS.items() if s == state and role in t.roles]


def check(state: TaskState, action: Action, role: Role) -> Transition:
    """The transition for ``action`` from ``state`` if ``role`` may take it; raises otherwise."""
    from zhikong.core.errors import Conflict, PermissionDenied

    if role not in ACTION_ROLES[action]:
        raise PermissionDenied(f"role {role.value} may not {action.value} tasks", field="action")
    t = TRANSITIONS.get((state, action))
    if t is None:
        raise Conflict(
            f"a task in state {state.value} cannot be {action.value}: illegal transition", field="action"
        )
    if role not in t.roles:
        raise PermissionDenied(
            f"role {role.value} may not {action.value} a task in state {state.value}", field="action"
        )
    return t
