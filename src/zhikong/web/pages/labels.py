"""Display labels (English message ids, translated when rendered) of the workflow's enumerations."""

from __future__ import annotations

from zhikong.web.i18n import N_

TASK_STATES: dict[str, str] = {
    "created": N_("Created"), "assigned": N_("Assigned"), "signed_for": N_("Signed for"),
    "in_progress": N_("In progress"), "submitted": N_("Feedback submitted"), "returned": N_("Returned"),
    "accepted": N_("Accepted"), "escalated": N_("Escalated"), "closed": N_("Closed"),
}
TASK_KINDS: dict[str, str] = {
    "contact_quarantine": N_("Contact quarantine"), "arrival_verification": N_("Arrival verification"),
    "registration": N_("Registration"), "concealment": N_("Concealment check"),
    "video_alarm": N_("Video alarm"), "fever": N_("Fever"), "citizen_report": N_("Citizen report"),
    "meeting_decision": N_("Meeting decision"), "other": N_("Other"),
}
PRIORITIES: dict[str, str] = {
    "urgent": N_("Urgent"), "high": N_("High"), "normal": N_("Normal"), "low": N_("Low"),
}
TASK_ACTIONS: dict[str, str] = {
    "assign": N_("Assign"), "sign_for": N_("Sign for"), "start": N_("Start handling"),
    "submit": N_("Submit feedback"), "accept": N_("Accept"), "return": N_("Return"),
    "escalate": N_("Escalate"), "push": N_("Push"), "reassign": N_("Reassign"), "close": N_("Close task"),
    "create": N_("Create"), "edit": N_("Edit"),
}
ALERT_KINDS: dict[str, str] = {
    "crowd": N_("Crowd"), "no_mask": N_("No mask"), "fever": N_("Fever"),
    "quarantine_breach": N_("Quarantine breach"), "device": N_("Device alarm"), "intrusion": N_("Intrusion"),
    "citizen_report": N_("Citizen report"), "other": N_("Other"),
}
SEVERITIES: dict[str, str] = {"info": N_("Info"), "warning": N_("Warning"), "critical": N_("Critical")}
ALERT_STATES: dict[str, str] = {
    "new": N_("New"), "acknowledged": N_("Acknowledged"), "confirmed": N_("Confirmed"),
    "dismissed": N_("Dismissed"),
}
ALERT_ACTIONS: dict[str, str] = {
    "acknowledge": N_("Acknowledge"), "confirm": N_("Confirm into a task"), "dismiss": N_("Dismiss"),
}
