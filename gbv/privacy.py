"""Expert pseudonyms: raw expert ids never leave the labelling tool and the intake files."""

from __future__ import annotations

import hashlib


def pseudonymize(expert_id: str, salt: str) -> str:
    """Stable, salted pseudonym for an expert (``ex_`` + 16 hex chars of sha256(salt + id))."""
    digest = hashlib.sha256(f"{salt}\x00{expert_id}".encode()).hexdigest()
    return f"ex_{digest[:16]}"
