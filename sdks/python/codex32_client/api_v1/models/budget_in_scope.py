from enum import StrEnum


class BudgetInScope(StrEnum):
    API_KEY = "api_key"
    BOT = "bot"
    WORKSPACE = "workspace"

    def __str__(self) -> str:
        return str(self.value)
