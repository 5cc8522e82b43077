"""The OpenAPI 3 description of a prediction server (``GET /openapi.json``), with the served
model's columns in the request schemas."""

from __future__ import annotations

from typing import Any

from setpoint.serving.protocol import NUMPY_OF_OIP, Schema

ERROR = {
    "description": "The request cannot be answered; `error` says why, `fields` names the columns.",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "error": {"type": "string"},
                    "code": {"type": "string"},
                    "fields": {"type": "object", "additionalProperties": {"type": "string"}},
                },
                "required": ["error"],
            }
        }
    },
}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def document(model: str, schema: Schema, version: str) -> dict[str, Any]:
    scalar = {
        "oneOf": [{"type": "number"}, {"type": "string"}, {"type": "boolean"}, {"type": "null"}]
    }
    tensor = {
        "type": "object",
        "required": ["name", "shape", "datatype", "data"],
        "properties": {
            "name": {"type": "string"},
            "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
            "datatype": {"type": "string", "enum": list(NUMPY_OF_OIP)},
            "data": {"type": "array", "items": {}},
            "parameters": {"type": "object"},
        },
    }
    columns = {n: {"type": "array", "items": scalar} for n, _ in schema.columns}
    record = {"type": "object", "properties": {n: scalar for n, _ in schema.columns}}
    errors = {"400": ERROR, "404": ERROR, "413": ERROR, "415": ERROR, "422": ERROR}
    name = {"name": "model_name", "in": "path", "required": True, "schema": {"type": "string"}}
    ver = {"name": "model_version", "in": "path", "required": True, "schema": {"type": "string"}}
    infer = {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["inputs"],
                        "properties": {
                            "id": {"type": "string"},
                            "parameters": {"type": "object"},
                            "inputs": {"type": "array", "items": tensor, "minItems": 1},
                            "outputs": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["name"],
                                    "properties": {
                                        "name": {"type": "string"},
                                        "parameters": {"type": "object"},
                                    },
                                },
                            },
                        },
                    }
                }
            },
        },
        "responses": {"200": _json({"type": "object"}), **errors, "500": ERROR},
    }
    simple = {"responses": {"200": _json({"type": "object"}), "404": ERROR, "503": ERROR}}
    invocations = {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [
                            {
                                "type": "object",
                                "required": ["dataframe_split"],
                                "properties": {
                                    "dataframe_split": {
                                        "type": "object",
                                        "required": ["columns", "data"],
                                        "properties": {
                                            "columns": {
                                                "type": "array",
                                                "items": {"type": "string"},
                                            },
                                            "data": {
                                                "type": "array",
                                                "items": {"type": "array", "items": scalar},
                                            },
                                        },
                                    }
                                },
                            },
                            {
                                "type": "object",
                                "required": ["dataframe_records"],
                                "properties": {
                                    "dataframe_records": {"type": "array", "items": record}
                                },
                            },
                            {
                                "type": "object",
                                "required": ["instances"],
                                "properties": {"instances": {"type": "array", "items": record}},
                            },
                            {
                                "type": "object",
                                "required": ["inputs"],
                                "properties": {"inputs": {"type": "object", "properties": columns}},
                            },
                        ]
                    }
                },
                "text/csv": {"schema": {"type": "string"}},
            },
        },
        "responses": {
            "200": _json({"type": "object", "properties": {"predictions": {"type": "array"}}}),
            **errors,
            "500": ERROR,
        },
    }
    feedback = {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["request_id", "label"],
                        "properties": {"request_id": {"type": "string"}, "label": {}},
                    }
                }
            },
        },
        "responses": {"202": _json({"type": "object"}), "400": ERROR, "404": ERROR},
    }
    get = {"get": {"responses": {"200": _json({"type": "object"})}}}
    return {
        "openapi": "3.0.3",
        "info": {"title": f"setpoint prediction server: {model}", "version": version},
        "paths": {
            "/v2/health/live": get,
            "/v2/health/ready": {"get": simple},
            "/v2": get,
            "/v2/models/{model_name}": {"get": {"parameters": [name], **simple}},
            "/v2/models/{model_name}/ready": {"get": {"parameters": [name], **simple}},
            "/v2/models/{model_name}/versions/{model_version}": {
                "get": {"parameters": [name, ver], **simple}
            },
            "/v2/models/{model_name}/versions/{model_version}/ready": {
                "get": {"parameters": [name, ver], **simple}
            },
            "/v2/models/{model_name}/infer": {"post": {"parameters": [name], **infer}},
            "/v2/models/{model_name}/versions/{model_version}/infer": {
                "post": {"parameters": [name, ver], **infer}
            },
            "/invocations": {"post": invocations},
            "/feedback": {"post": feedback},
            "/ping": get,
            "/health": get,
            "/version": get,
            "/metrics": {
                "get": {
                    "responses": {
                        "200": {
                            "description": "Prometheus text",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    }
                }
            },
        },
    }
