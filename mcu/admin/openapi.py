"""The OpenAPI 3 document of the admin API, generated from the command table."""

from __future__ import annotations

from typing import Any

import mcu
from mcu.admin.table import JSON_RESULT, PATH, QUERY, Arg, Command

OPENAPI_PATH = "/openapi.json"
ERROR_STATUSES = {"400": "bad arguments or malformed JSON (the message says what to fix)",
                  "401": "missing or wrong bearer token",
                  "404": "unknown room, member, region or site",
                  "409": "not possible in the meeting's current state",
                  "413": "request too large",
                  "415": "body is not JSON"}


def _schema(arg: Arg) -> dict[str, Any]:
    if arg.type is int:
        schema: dict[str, Any] = {"type": "integer"}
        if arg.minimum is not None:
            schema["minimum"] = arg.minimum
        if arg.maximum is not None:
            schema["maximum"] = arg.maximum
    else:
        schema = {"type": "string", "maxLength": arg.max_length}
        if arg.choices:
            schema["enum"] = list(arg.choices)
        elif arg.pattern:
            schema["pattern"] = f"^(?:{arg.pattern})$"
    schema["description"] = arg.help
    return schema


def _operation(command: Command) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": command.name,
        "summary": command.help,
        "tags": ["changes state" if command.changes_state else "reads"],
        "parameters": [{"name": a.name, "in": a.where, "required": a.where == PATH or a.required,
                        "schema": _schema(a), "description": a.help}
                       for a in command.args if a.where in (PATH, QUERY)],
        "responses": {
            "200": {"description": "done",
                    "content": {command.result: {"schema": {"type": "string", "format": "binary"}}
                                if command.result != JSON_RESULT else {"schema": {}}}},
            **{status: {"description": text, "content": {JSON_RESULT: {"schema": {"$ref": "#/components/schemas/Error"}}}}
               for status, text in ERROR_STATUSES.items()},
        },
    }
    if command.method != "GET":
        props = {a.name: _schema(a) for a in command.body_args}
        required = [a.name for a in command.body_args if a.required]
        body: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
        if required:
            body["required"] = required
        op["requestBody"] = {"required": bool(required), "content": {JSON_RESULT: {"schema": body}}}
    if command.name == "reload":
        op["responses"]["422"] = {"description": "config rejected; the running config stays",
                                  "content": {JSON_RESULT: {"schema": {"$ref": "#/components/schemas/Error"}}}}
    return op


def build_openapi(commands: tuple[Command, ...], server_url: str = "") -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for command in commands:
        paths.setdefault(command.path, {})[command.method.lower()] = _operation(command)
    doc: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {"title": "open MCU admin API", "version": mcu.__version__,
                 "description": "Operator control of a running MCU. Every request needs "
                                "'Authorization: Bearer <token>'. The same commands are `mcu ctl <command>`."},
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": {"type": "object", "required": ["error"],
                                  "properties": {"error": {"type": "string"}, "details": {}}}},
        },
        "security": [{"bearer": []}],
    }
    if server_url:
        doc["servers"] = [{"url": server_url}]
    return doc
