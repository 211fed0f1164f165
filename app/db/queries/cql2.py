"""CQL2 filters (OGC API - Features Part 3) as SQL over a collection's row source `m`, with bound parameters.

The text (or JSON) is parsed by `cql2` (developmentseed's cql2-rs, the reference grammar) into CQL2-JSON; this
module walks that tree. Property names are checked against the collection's queryables and become its own
column names; every literal becomes a bound parameter with an explicit SQL type. Nothing from the filter is
ever formatted into the SQL text.

Supported: comparisons, AND/OR/NOT, IS NULL, LIKE, BETWEEN, IN, CASEI (basic-cql2, advanced comparison,
case-insensitive comparison), S_INTERSECTS (basic spatial functions) and T_INTERSECTS on dates and intervals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import cql2
import orjson

from app.db.queries.ogc import Collection, PropertyType
from app.errors import InvalidParameter

GEOMETRY_QUERYABLE = "geometry"
COMPARISONS = {"=": "=", "<>": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
SQL_TYPES: dict[str, str] = {
    "string": "text",
    "integer": "double precision",
    "number": "double precision",
    "boolean": "boolean",
    "date": "date",
}


class FilterError(InvalidParameter):
    def __init__(self, reason: str) -> None:
        super().__init__("filter", reason)


def parse(text: str, lang: str) -> Any:
    """The CQL2-JSON tree of a filter in cql2-text or cql2-json; a 400 naming what does not parse."""
    try:
        expression = cql2.parse_json(text) if lang == "cql2-json" else cql2.parse_text(text)
        return expression.to_json()
    except (cql2.ParseError, cql2.ValidationError, ValueError) as exc:
        message = " ".join(str(exc).split())
        raise FilterError(f"is not valid {lang}: {message}") from None


def parse_day(value: str, what: str) -> date:
    """A calendar date from a CQL2 date or timestamp (the data are dates; a time of day does not matter)."""
    text = value.strip().rstrip("T")
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        raise FilterError(f"{what} '{value}' is not a date or timestamp") from None


@dataclass
class Compiler:
    collection: Collection
    params: dict[str, Any] = field(default_factory=dict)

    def bind(self, value: Any, sql_type: str) -> str:
        name = f"cql_{len(self.params)}"
        self.params[name] = value
        return f"CAST(:{name} AS {sql_type})"

    def property_type(self, name: str) -> PropertyType:
        if name not in self.collection.properties:
            known = ", ".join([GEOMETRY_QUERYABLE, *self.collection.properties])
            raise FilterError(f"unknown property '{name}' in {self.collection.id}; queryables: {known}")
        return self.collection.properties[name]

    # Predicates: SQL that is true, false or null.

    def predicate(self, node: Any) -> str:
        if isinstance(node, bool):
            return "true" if node else "false"
        if not isinstance(node, dict) or "op" not in node:
            raise FilterError(f"expected a condition, got {orjson.dumps(node).decode()}")
        op, args = str(node["op"]).lower(), node.get("args", [])
        if op in ("and", "or"):
            return "(" + f" {op.upper()} ".join(self.predicate(arg) for arg in args) + ")"
        if op == "not":
            return f"(NOT {self.predicate(args[0])})"
        if op in COMPARISONS:
            left, right = self.operands(args[0], args[1])
            return f"({left} {COMPARISONS[op]} {right})"
        if op == "isnull":
            return f"({self.scalar(args[0])[0]} IS NULL)"
        if op == "like":
            left, pattern = self.operands(args[0], args[1], require="string")
            return f"({left} LIKE {pattern})"
        if op == "between":
            value, low = self.operands(args[0], args[1])
            _, high = self.operands(args[0], args[2])
            return f"({value} BETWEEN {low} AND {high})"
        if op == "in":
            if not isinstance(args[1], list) or not args[1]:
                raise FilterError("IN needs a non-empty list")
            pairs = [self.operands(args[0], item) for item in args[1]]
            return f"({pairs[0][0]} IN ({', '.join(right for _, right in pairs)}))"
        if op == "s_intersects":
            return f"ST_Intersects({self.geometry(args[0])}, {self.geometry(args[1])})"
        if op == "t_intersects":
            return f"({self.interval(args[0])} && {self.interval(args[1])})"
        raise FilterError(
            f"the operator '{node['op']}' is not supported (comparisons, AND, OR, NOT, IS NULL, LIKE, "
            "BETWEEN, IN, CASEI, S_INTERSECTS and T_INTERSECTS are)"
        )

    # Scalars: (SQL, type), the type None for a literal whose type comes from the other side.

    def scalar(self, node: Any) -> tuple[str, PropertyType | None]:
        if isinstance(node, dict):
            if "property" in node:
                name = str(node["property"])
                return f"m.{name}", self.property_type(name)
            if str(node.get("op", "")).lower() == "casei":
                inner, kind = self.scalar(node["args"][0])
                if kind not in ("string", None):
                    raise FilterError("CASEI applies to strings")
                if kind is None:
                    inner = self.literal(node["args"][0], "string")
                return f"lower({inner})", "string"
            if "date" in node or "timestamp" in node:
                return self.literal(node, "date"), "date"
        if isinstance(node, bool):
            return self.literal(node, "boolean"), "boolean"
        if isinstance(node, int | float | str):
            return "", None
        raise FilterError(f"cannot compare {orjson.dumps(node).decode()}")

    def operands(self, left: Any, right: Any, *, require: PropertyType | None = None) -> tuple[str, str]:
        """Both sides of a comparison as SQL of one type: a literal takes the type of the property."""
        left_sql, left_type = self.scalar(left)
        right_sql, right_type = self.scalar(right)
        kind = left_type or right_type or require or ("string" if isinstance(left, str) else "number")
        if require and kind != require:
            raise FilterError(f"LIKE applies to strings, not to a {kind} property")
        if left_type and right_type and not {left_type, right_type} <= {"integer", "number"}:
            if left_type != right_type:
                raise FilterError(f"cannot compare a {left_type} with a {right_type}")
        return (left_sql or self.literal(left, kind), right_sql or self.literal(right, kind))

    def literal(self, node: Any, kind: PropertyType) -> str:
        """A literal as a bound parameter of the property's SQL type; a 400 when it cannot be one."""
        shown = orjson.dumps(node).decode()
        if kind == "date":
            if isinstance(node, dict) and ("date" in node or "timestamp" in node):
                return self.bind(parse_day(str(node.get("date") or node.get("timestamp")), "date"), "date")
            if isinstance(node, str):
                return self.bind(parse_day(node, "date"), "date")
        elif kind == "boolean":
            if isinstance(node, bool):
                return self.bind(node, "boolean")
        elif kind in ("integer", "number"):
            if isinstance(node, int | float) and not isinstance(node, bool):
                return self.bind(float(node), SQL_TYPES[kind])
        elif isinstance(node, str):
            return self.bind(node, "text")
        elif isinstance(node, dict) and str(node.get("op", "")).lower() == "casei":
            return self.scalar(node)[0]
        raise FilterError(f"{shown} is not a {kind} value")

    def geometry(self, node: Any) -> str:
        if isinstance(node, dict) and "property" in node:
            if node["property"] != GEOMETRY_QUERYABLE:
                raise FilterError(
                    f"spatial functions apply to the property '{GEOMETRY_QUERYABLE}', "
                    f"not '{node['property']}'"
                )
            return "m.geom"
        if isinstance(node, dict) and "bbox" in node:
            box = node["bbox"]
            if len(box) not in (4, 6):
                raise FilterError("BBOX takes 4 numbers: west, south, east, north")
            west, south, east, north = (
                (box[0], box[1], box[2], box[3]) if len(box) == 4 else box[:2] + box[3:5]
            )
            corners = ", ".join(self.bind(float(v), "double precision") for v in (west, south, east, north))
            return f"ST_MakeEnvelope({corners}, 4326)"
        if isinstance(node, dict) and "type" in node:
            return f"ST_SetSRID(ST_GeomFromGeoJSON({self.bind(orjson.dumps(node).decode(), 'text')}), 4326)"
        raise FilterError(f"{orjson.dumps(node).decode()} is not a geometry")

    def interval(self, node: Any) -> str:
        """A temporal operand as a daterange. A date property or literal is the one day; INTERVAL(a, b) of
        two properties is half-open (the data's ends are exclusive: valid_to, until), of literals inclusive."""
        if isinstance(node, dict) and "interval" in node:
            start, end = node["interval"]
            if isinstance(start, dict) and "property" in start:
                return f"daterange({self.day(start)}, {self.day(end)}, '[)')"
            return f"daterange({self.day(start)}, {self.day(end)}, '[]')"
        day = self.day(node)
        return f"daterange({day}, {day}, '[]')"

    def day(self, node: Any) -> str:
        if isinstance(node, str) and node == "..":
            return "NULL::date"
        if isinstance(node, dict) and "property" in node:
            if self.property_type(str(node["property"])) != "date":
                raise FilterError(f"'{node['property']}' is not a date property")
            return f"m.{node['property']}"
        return self.literal(node, "date")


def filter_sql(collection: Collection, text: str, lang: str) -> tuple[str, dict[str, Any]]:
    """SQL for a CQL2 filter on the collection's row source, and its bound parameters."""
    compiler = Compiler(collection)
    return compiler.predicate(parse(text, lang)), compiler.params
