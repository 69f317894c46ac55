from enum import StrEnum


class GetExecutionExpandItem(StrEnum):
    BOT = "bot"

    def __str__(self) -> str:
        return str(self.value)
