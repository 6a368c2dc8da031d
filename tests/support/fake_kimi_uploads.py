"""The upload steps of Kimi's web host (docs/kimi-protocol.md A.13) for fake_kimi.py: pre-sign, the
PUT to the signed URL, and the file registration. Standard library only, like the fake itself."""

import json
import uuid

UPLOAD_PREFIX = "/upload/"


class UploadRoutes:
    """A mixin for the fake's request handler; state lives on the FakeKimi (`uploads`, `files`)."""

    def _upload_route(self, raw):
        """True when the request was one of the upload steps (and has been answered)."""
        route = {"/api/pre-sign-url": self._pre_sign, "/api/file": self._register_file}.get(self.path)
        if route is None:
            return False
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = None
        self.fake._record(self.path, self.headers, body, raw)
        if not self.headers.get("Authorization", "").startswith("Bearer "):
            self._send_body(401, b'{"error_type":"auth.token.invalid","message":"no token"}')
        elif not isinstance(body, dict):
            self._send_body(400, b'{"error_type":"request.invalid","message":"not a JSON object"}')
        else:
            route(body)
        return True

    def _pre_sign(self, body):
        object_name = "obj-" + uuid.uuid4().hex[:12]
        self._send_json({"url": f"{self.fake.url}{UPLOAD_PREFIX}{object_name}", "object_name": object_name,
                         "file_id": "fid-" + object_name[4:]})

    def do_PUT(self):
        raw = self._read_body()
        self.fake._record(self.path, self.headers, None, raw)
        if not self.path.startswith(UPLOAD_PREFIX):
            return self._not_found()
        with self.fake._lock:
            self.fake.uploads[self.path[len(UPLOAD_PREFIX):]] = (raw, self.headers.get("Content-Type", ""))
        self._send_body(200, b"", content_type="text/plain")

    def _register_file(self, body):
        with self.fake._lock:
            data, mime = self.fake.uploads.get(str(body.get("object_name")), (None, None))
            if data is None:
                return self._send_body(400, b'{"error_type":"file.not_uploaded","message":"nothing uploaded"}')
            # Images are ready at once; documents come back parsed, so no parse_process is needed.
            file = {"id": "file-" + uuid.uuid4().hex[:12], "name": body.get("name", ""), "size": len(data),
                    "type": body.get("type"), "content_type": mime,
                    "status": "initialized" if body.get("type") == "image" else "parsed"}
            self.fake.files[file["id"]] = file
        self._send_json(file)

    def _send_json(self, payload):
        self._send_body(200, json.dumps(payload).encode())
