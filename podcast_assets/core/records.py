"""The base of every domain record: pydantic, serialised as JSON through the artifact store (never pickle).

`extra="forbid"` makes a stored artifact that does not match the code that reads it fail loudly instead of
being half-understood. Each stage keeps its records beside its logic (`core/<stage>/models.py`).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)
