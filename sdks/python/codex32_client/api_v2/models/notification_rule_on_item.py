from enum import StrEnum


class NotificationRuleOnItem(StrEnum):
    FAILED = "failed"
    SUCCEEDED = "succeeded"
    TIMED_OUT = "timed_out"

    def __str__(self) -> str:
        return str(self.value)
