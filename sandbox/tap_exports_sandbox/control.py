"""``/_sandbox/``: the sandbox's own JSON API, for tests and demos in another process.

Each route is a thin wrapper over the :class:`~tap_exports_sandbox.server.Sandbox`
method of the same meaning.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

if TYPE_CHECKING:
    from tap_exports_sandbox.server import Sandbox


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


def control_blueprint(sandbox: Sandbox) -> Blueprint:
    """Routes under ``/_sandbox`` acting on ``sandbox``."""
    control = Blueprint("sandbox_control", __name__, url_prefix="/_sandbox")

    @control.get("/truth")
    def truth() -> ResponseReturnValue:
        return jsonify(sandbox.truth())

    @control.get("/stats")
    def stats() -> ResponseReturnValue:
        return jsonify(sandbox.report())

    @control.get("/config")
    def config() -> ResponseReturnValue:
        return jsonify(sandbox.tap_config())

    @control.post("/faults")
    def add_faults() -> ResponseReturnValue:
        specs = request.get_json(silent=True)
        specs = specs if isinstance(specs, list) else [specs]
        try:
            for spec in specs:
                sandbox.faults.add_from_dict(spec)
        except (KeyError, TypeError, ValueError) as error:
            return jsonify(error=f"invalid fault: {error}"), 400
        return jsonify(registered=len(specs)), 201

    @control.delete("/faults")
    def clear_faults() -> ResponseReturnValue:
        sandbox.faults.clear()
        return jsonify(cleared=True)

    @control.post("/clock/advance")
    def advance_clock() -> ResponseReturnValue:
        try:
            now = sandbox.advance_clock(float(_body().get("seconds", 0)))
        except (TypeError, ValueError) as error:
            return jsonify(error=str(error)), 400
        return jsonify(now=now.isoformat())

    @control.post("/datasets/<path:name>/size")
    def resize_dataset(name: str) -> ResponseReturnValue:
        try:
            dataset = sandbox.resize_dataset(name, int(_body()["size"]))
        except KeyError:
            return jsonify(error=f"unknown dataset {name!r} or missing size"), 404
        except (TypeError, ValueError) as error:
            return jsonify(error=str(error)), 400
        return jsonify(name=dataset.name, size=dataset.size)

    @control.post("/reset")
    def reset() -> ResponseReturnValue:
        sandbox.reset()
        return jsonify(reset=True)

    return control
