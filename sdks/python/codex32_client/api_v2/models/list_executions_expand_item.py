from enum import StrEnum


class ListExecutionsExpandItem(StrEnum):
    BOT = "bot"

    def __str__(self) -> str:
        return str(self.value)
