from enum import StrEnum


class RoleRole(StrEnum):
    ADMIN = "admin"
    API_USER = "api_user"
    USER = "user"
    VIEWER = "viewer"

    def __str__(self) -> str:
        return str(self.value)
