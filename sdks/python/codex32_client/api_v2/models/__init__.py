"""Contains all the data models used in inputs/outputs"""

from .api_key import ApiKey
from .api_key_create import ApiKeyCreate
from .api_key_create_role import ApiKeyCreateRole
from .api_key_list import ApiKeyList
from .audit_entry import AuditEntry
from .audit_entry_changes import AuditEntryChanges
from .audit_list import AuditList
from .bot import Bot
from .bot_create import BotCreate
from .bot_create_parameters import BotCreateParameters
from .bot_create_status import BotCreateStatus
from .bot_detail import BotDetail
from .bot_detail_latest_version_type_1_type_0 import BotDetailLatestVersionType1Type0
from .bot_detail_settings import BotDetailSettings
from .bot_execution_list import BotExecutionList
from .bot_latest_version_type_1_type_0 import BotLatestVersionType1Type0
from .bot_list import BotList
from .bot_settings import BotSettings
from .bot_update import BotUpdate
from .bot_update_status import BotUpdateStatus
from .execution import Execution
from .execution_bot_type_1_type_0 import ExecutionBotType1Type0
from .execution_create import ExecutionCreate
from .execution_create_input import ExecutionCreateInput
from .execution_error_type_0 import ExecutionErrorType0
from .execution_input import ExecutionInput
from .execution_list import ExecutionList
from .execution_status import ExecutionStatus
from .execution_summary import ExecutionSummary
from .execution_summary_bot_type_1_type_0 import ExecutionSummaryBotType1Type0
from .execution_summary_error_type_0 import ExecutionSummaryErrorType0
from .execution_summary_status import ExecutionSummaryStatus
from .execution_summary_trigger import ExecutionSummaryTrigger
from .execution_trigger import ExecutionTrigger
from .field_error import FieldError
from .get_bot_expand_item import GetBotExpandItem
from .get_execution_expand_item import GetExecutionExpandItem
from .list_bot_executions_expand_item import ListBotExecutionsExpandItem
from .list_bot_executions_status import ListBotExecutionsStatus
from .list_bots_expand_item import ListBotsExpandItem
from .list_bots_status import ListBotsStatus
from .list_executions_expand_item import ListExecutionsExpandItem
from .list_executions_status import ListExecutionsStatus
from .list_executions_trigger import ListExecutionsTrigger
from .member import Member
from .member_list import MemberList
from .minted_key import MintedKey
from .notification_rule import NotificationRule
from .notification_rule_on_item import NotificationRuleOnItem
from .pagination_metadata import PaginationMetadata
from .problem import Problem
from .role import Role
from .role_role import RoleRole
from .rollback import Rollback
from .schedule import Schedule
from .schedule_input import ScheduleInput
from .schedule_input_input import ScheduleInputInput
from .schedule_input_object import ScheduleInputObject
from .usage_group import UsageGroup
from .usage_report import UsageReport
from .version import Version
from .version_create import VersionCreate
from .version_files import VersionFiles
from .version_list import VersionList
from .version_summary import VersionSummary

__all__ = (
    "ApiKey",
    "ApiKeyCreate",
    "ApiKeyCreateRole",
    "ApiKeyList",
    "AuditEntry",
    "AuditEntryChanges",
    "AuditList",
    "Bot",
    "BotCreate",
    "BotCreateParameters",
    "BotCreateStatus",
    "BotDetail",
    "BotDetailLatestVersionType1Type0",
    "BotDetailSettings",
    "BotExecutionList",
    "BotLatestVersionType1Type0",
    "BotList",
    "BotSettings",
    "BotUpdate",
    "BotUpdateStatus",
    "Execution",
    "ExecutionBotType1Type0",
    "ExecutionCreate",
    "ExecutionCreateInput",
    "ExecutionErrorType0",
    "ExecutionInput",
    "ExecutionList",
    "ExecutionStatus",
    "ExecutionSummary",
    "ExecutionSummaryBotType1Type0",
    "ExecutionSummaryErrorType0",
    "ExecutionSummaryStatus",
    "ExecutionSummaryTrigger",
    "ExecutionTrigger",
    "FieldError",
    "GetBotExpandItem",
    "GetExecutionExpandItem",
    "ListBotExecutionsExpandItem",
    "ListBotExecutionsStatus",
    "ListBotsExpandItem",
    "ListBotsStatus",
    "ListExecutionsExpandItem",
    "ListExecutionsStatus",
    "ListExecutionsTrigger",
    "Member",
    "MemberList",
    "MintedKey",
    "NotificationRule",
    "NotificationRuleOnItem",
    "PaginationMetadata",
    "Problem",
    "Role",
    "RoleRole",
    "Rollback",
    "Schedule",
    "ScheduleInput",
    "ScheduleInputInput",
    "ScheduleInputObject",
    "UsageGroup",
    "UsageReport",
    "Version",
    "VersionCreate",
    "VersionFiles",
    "VersionList",
    "VersionSummary",
)
