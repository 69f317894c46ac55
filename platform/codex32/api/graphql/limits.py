"""The cost limit of a GraphQL operation, the refusal of NUL in its string literals and of an
unnamed choice among several operations, checked before it runs (depth and token limits are
strawberry's own extensions, :mod:`codex32.api.graphql.schema`).

Cost estimates the objects an operation may read (GitHub's "node limit"): a connection costs
its page size (``first``, from the document, its variables or a variable's default, else the
default page size) times the page sizes of the connections around it; any other object field
costs one, times the same. Scalars are free. ``bots(first: 100) { executions(first: 100) {
id } }`` costs 100 + 100 * 100: over the default limit, refused with a clear error before any
SQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLObjectType,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    ValidationContext,
    ValidationRule,
    VariableNode,
    get_named_type,
    value_from_ast_untyped,
)
from strawberry.extensions import SchemaExtension

from codex32.api.graphql.pagination import DEFAULT_FIRST

CONNECTION_SUFFIX = "Connection"


class CostLimiter(SchemaExtension):
    """Refuse, before it runs, an operation whose estimated cost exceeds ``maximum``."""

    def __init__(self, maximum: int, largest_page: int) -> None:
        self.maximum = maximum
        self.largest_page = largest_page

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        context.validation_rules = (*context.validation_rules, cost_limit(
            self.maximum, self.largest_page, context.variables or {}))
        yield


def cost_limit(maximum: int, largest_page: int,
               variables: dict[str, Any]) -> type[ValidationRule]:
    """A validation rule refusing operations whose estimated cost exceeds ``maximum``."""

    class CostLimit(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self.values: dict[str, Any] = dict(variables)

        def enter_operation_definition(self, node: OperationDefinitionNode,
                                       *_: Any) -> None:
            root = self.context.schema.get_root_type(node.operation)
            if root is None:
                return
            # A variable the request leaves out takes its default from the document.
            self.values = {**_defaults(node), **variables}
            cost = self._cost(node.selection_set, root, 1, set())
            if cost > maximum:
                self.report_error(GraphQLError(
                    f"the operation's estimated cost is {cost}, over the limit of {maximum}: "
                    "ask for smaller pages (first) or fewer nested lists", node,
                    extensions={"code": "COST_LIMIT_EXCEEDED", "cost": cost,
                                "limit": maximum}))

        def _cost(self, selections: SelectionSetNode | None, parent: GraphQLObjectType,
                  multiplier: int, seen: set[str]) -> int:
            total = 0
            for selection in selections.selections if selections else ():
                if isinstance(selection, FieldNode):
                    total += self._field(selection, parent, multiplier, seen)
                elif isinstance(selection, InlineFragmentNode):
                    total += self._cost(selection.selection_set, parent, multiplier, seen)
                elif isinstance(selection, FragmentSpreadNode):
                    name = selection.name.value
                    fragment = self.context.get_fragment(name)
                    if fragment is not None and name not in seen:
                        total += self._cost(fragment.selection_set, parent, multiplier,
                                            seen | {name})
            return total

        def _field(self, node: FieldNode, parent: GraphQLObjectType, multiplier: int,
                   seen: set[str]) -> int:
            definition = parent.fields.get(node.name.value) if hasattr(parent, "fields") \
                else None
            if definition is None:
                return 0  # __typename, or an unknown field another rule reports
            named = get_named_type(definition.type)
            if not isinstance(named, GraphQLObjectType):
                return 0
            inner = multiplier
            if named.name.endswith(CONNECTION_SUFFIX):
                inner = multiplier * _page_size(node, largest_page, self.values)
            # A connection's own parts (nodes, edges, node, pageInfo) are counted by it.
            own = 0 if parent.name.endswith((CONNECTION_SUFFIX, "Edge")) else inner
            return own + self._cost(node.selection_set, named, inner, seen)

    return CostLimit


def _defaults(operation: OperationDefinitionNode) -> dict[str, Any]:
    """The default values the operation declares for its variables."""
    return {definition.variable.name.value: value_from_ast_untyped(definition.default_value)
            for definition in operation.variable_definitions or ()
            if definition.default_value is not None}


def _page_size(node: FieldNode, largest_page: int, variables: dict[str, Any]) -> int:
    for argument in node.arguments or ():
        if argument.name.value != "first":
            continue
        value: Any = None
        if isinstance(argument.value, IntValueNode):
            value = int(argument.value.value)
        elif isinstance(argument.value, VariableNode):
            value = variables.get(argument.value.name.value)
        if isinstance(value, int) and not isinstance(value, bool):
            return max(1, min(value, largest_page))
        return min(DEFAULT_FIRST, largest_page) if value is None else largest_page
    return min(DEFAULT_FIRST, largest_page)


class OperationChoice(SchemaExtension):
    """A document of several operations sent without ``operationName`` is refused: running
    the first (what the library does) would silently drop the others."""

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        if context.operation_name is None:
            context.validation_rules = (*context.validation_rules, OneOperation)
        yield


class OneOperation(ValidationRule):
    """At most one operation in the document (the request named none)."""

    def enter_document(self, node: DocumentNode, *_: Any) -> None:
        operations = [d for d in node.definitions if isinstance(d, OperationDefinitionNode)]
        if len(operations) > 1:
            self.report_error(GraphQLError(
                "the document holds several operations: name the one to run in "
                "operationName", operations[1]))


class NoNulStrings(ValidationRule):
    """Refuse a string literal holding a NUL (written as an escape: the JSON body holds none),
    which no string argument can take (PostgreSQL text cannot hold one)."""

    def enter_string_value(self, node: StringValueNode, *_: Any) -> None:
        if "\x00" in node.value:
            self.report_error(GraphQLError("a string must not contain NUL characters", node))
