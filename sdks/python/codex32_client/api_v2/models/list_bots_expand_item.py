from enum import StrEnum


class ListBotsExpandItem(StrEnum):
    LATEST_VERSION = "latest_version"

    def __str__(self) -> str:
        return str(self.value)
