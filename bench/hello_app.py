"""The hello-world baseline of ``bench.bench_http``: ``gunicorn bench.hello_app:app``.

It reads a JSON body as the report endpoint does, and answers a small JSON document.
"""

from __future__ import annotations

from flask import Flask, Response, jsonify, request

app = Flask(__name__)


@app.post("/hello")
def hello() -> tuple[Response, int]:
    body = request.get_json()
    if not isinstance(body, dict):
        return jsonify(error="a JSON object is required"), 400
    return jsonify(hello="world"), 200


@app.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")
