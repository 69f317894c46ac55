"""How a mutation field is applied: all or nothing, its answer included.

graphql-core resolves a mutation field, then the fields of its answer. When one of those
fails (a bad ``first`` or ``after`` on a nested list, a permission), the error nulls the
mutation field: the client reads "not applied". So each root field of a mutation, answer
included, runs in a savepoint that is rolled back when the field ends up nulled by an error,
and released otherwise. Fields run one after another (the spec's serial execution), so an
earlier field's writes stand whatever a later one does.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLObjectType
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext


class Executor(StrawberryGraphQLCoreExecutionContext):
    """strawberry's executor, with each mutation field in a savepoint of the request's
    session (:class:`codex32.api.graphql.context.Context`)."""

    def execute_field(self, parent_type: GraphQLObjectType, source: Any,
                      field_details_list: Any, path: Any, position_context: Any) -> Any:
        if parent_type is not self.schema.mutation_type:
            return super().execute_field(parent_type, source, field_details_list, path,
                                         position_context)
        savepoint = self.context_value.session.begin_nested()
        answer = super().execute_field(parent_type, source, field_details_list, path,
                                       position_context)
        # A field that ended the request's transaction itself (a mail about to announce
        # the write) closed the savepoint with it: its writes are committed.
        if savepoint.is_active:
            if self.collected_errors.has_nulled_position(path):
                savepoint.rollback()
            else:
                savepoint.commit()
        return answer
