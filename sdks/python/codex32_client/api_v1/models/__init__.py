"""Contains all the data models used in inputs/outputs"""

from .attempt import Attempt
from .budget import Budget
from .budget_in import BudgetIn
from .budget_in_period import BudgetInPeriod
from .budget_in_scope import BudgetInScope
from .budgets_in import BudgetsIn
from .called import Called
from .chat import Chat
from .chat_answer import ChatAnswer
from .chat_response_schema_type_1_type_0 import ChatResponseSchemaType1Type0
from .error import Error
from .error_errors import ErrorErrors
from .login import Login
from .me import Me
from .me_user_type_0 import MeUserType0
from .me_workspace import MeWorkspace
from .message import Message
from .message_role import MessageRole
from .resend import Resend
from .resent import Resent
from .reset_confirm import ResetConfirm
from .reset_request import ResetRequest
from .response_schema import ResponseSchema
from .response_schema_schema import ResponseSchemaSchema
from .switch import Switch
from .token_pair import TokenPair
from .token_usage import TokenUsage
from .tool import Tool
from .tool_call import ToolCall
from .tool_parameters_type_0 import ToolParametersType0
from .verified import Verified
from .verified_user import VerifiedUser
from .verified_workspace import VerifiedWorkspace
from .verify import Verify

__all__ = (
    "Attempt",
    "Budget",
    "BudgetIn",
    "BudgetInPeriod",
    "BudgetInScope",
    "BudgetsIn",
    "Called",
    "Chat",
    "ChatAnswer",
    "ChatResponseSchemaType1Type0",
    "Error",
    "ErrorErrors",
    "Login",
    "Me",
    "MeUserType0",
    "MeWorkspace",
    "Message",
    "MessageRole",
    "Resend",
    "Resent",
    "ResetConfirm",
    "ResetRequest",
    "ResponseSchema",
    "ResponseSchemaSchema",
    "Switch",
    "TokenPair",
    "TokenUsage",
    "Tool",
    "ToolCall",
    "ToolParametersType0",
    "Verified",
    "VerifiedUser",
    "VerifiedWorkspace",
    "Verify",
)
