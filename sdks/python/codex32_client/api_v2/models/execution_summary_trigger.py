from enum import StrEnum


class ExecutionSummaryTrigger(StrEnum):
    API = "api"
    RETRY = "retry"
    SCHEDULE = "schedule"

    def __str__(self) -> str:
        return str(self.value)
