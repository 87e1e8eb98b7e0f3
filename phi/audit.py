"""The audit trail of the PHI guard: an author confirmed that flagged text is not patient data.

One entry per confirmed store: who (the author's pseudonym in the room, never a user id),
where (``room:<id>/seq:<n>`` or ``case:<id>``), which op and the finding kinds with their
count. Never the text, never the spans' content: the log sits in every backup and is read by
auditors (crypto/audit.py).
"""

from __future__ import annotations

from crypto.audit import audit_append
from phi.guard import Finding, phi_kinds

ACTION = "phi.confirm"


def phi_confirmation_record(*, actor: str, subject: str, op: str,
                            findings: list[Finding]) -> None:
    """Append the confirmation to the audit log (call it in the transaction that stores the
    text when there is one).

    Raises:
        ValueError: ``actor`` is a user id (crypto.audit refuses those).
    """
    audit_append(action=ACTION, actor=actor, subject=subject,
                 details={"op": op, "kinds": phi_kinds(findings), "count": len(findings)})
