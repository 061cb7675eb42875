"""The end-to-end driver runs every path through the test client on the current backend."""

from __future__ import annotations

from typing import Any

from tests.e2e_drive import PATHS, Driver, png_multipart


def test_drive_every_path(client: Any) -> None:
    def send(method: str, path: str, headers: dict[str, str], body: Any) -> Any:
        headers = dict(headers)
        kwargs: dict[str, Any] = {"headers": headers}
        if isinstance(body, bytes):
            kwargs["data"] = body
            kwargs["content_type"] = headers.pop("Content-Type")
        elif body is not None:
            kwargs["json"] = body
        response = client.open(path, method=method, **kwargs)
        return response.status_code, dict(response.headers), response.get_json(silent=True)

    result = Driver(send, photo_body=png_multipart).run(len(PATHS) * 2)
    assert result["cases"] == len(PATHS) * 2
