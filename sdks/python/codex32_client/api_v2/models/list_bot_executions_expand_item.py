from enum import StrEnum


class ListBotExecutionsExpandItem(StrEnum):
    BOT = "bot"

    def __str__(self) -> str:
        return str(self.value)
