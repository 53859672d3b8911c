"""The Lambda functions one artifact (and so one container image) serves, each by its own CMD.

Each handler file in ``functions/`` is copied to the artifact's root under a module name of its
own, so the image runs any of them with ``CMD ["<module>.<function>"]``. The CDK stacks can take
the commands from here instead of retyping them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath


@dataclass(frozen=True)
class EntryPoint:
    source: PurePosixPath
    """The handler file in the repository."""
    module: str
    """Its module name at the artifact's root."""
    function: str

    @property
    def file_name(self) -> str:
        return f"{self.module}.py"

    @property
    def command(self) -> str:
        """The image's CMD (the Lambda handler string)."""
        return f"{self.module}.{self.function}"


API = EntryPoint(PurePosixPath("functions/api/handler.py"), "handler", "handler")
"""The query API behind API Gateway; the image's default CMD."""
KAFKA_TOPICS = EntryPoint(
    PurePosixPath("functions/kafka_topics/handler.py"), "kafka_topics_handler", "on_event"
)
"""Custom resource: the platform's Kafka topics."""
LAKE_INIT = EntryPoint(
    PurePosixPath("functions/lake_init/handler.py"), "lake_init_handler", "on_event"
)
"""Custom resource: the lake's Iceberg tables (``k2 lake init``)."""
FRESHNESS = EntryPoint(
    PurePosixPath("functions/freshness/handler.py"), "freshness_handler", "handler"
)
"""The freshness check (``k2.jobs.freshness``), started every minute by EventBridge Scheduler."""

ENTRY_POINTS = (API, KAFKA_TOPICS, LAKE_INIT, FRESHNESS)
