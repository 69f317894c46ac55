from enum import StrEnum


class GetBotExpandItem(StrEnum):
    LATEST_VERSION = "latest_version"

    def __str__(self) -> str:
        return str(self.value)
