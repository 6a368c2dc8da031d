"""The uploads of Kimi's web host for fake_kimi.py: the 2026 multipart upload and its parse progress
(kimi-protocol-2026.md B.5; `new_uploads_missing` makes both answer 404, as a host without them would),
and the older steps (docs/kimi-protocol.md A.13): pre-sign, the PUT to the signed URL, and the file
registration. Standard library only, like the fake itself."""

import json
import uuid
from email.parser import BytesParser
from email.policy import HTTP

UPLOAD_PREFIX = "/upload/"
FILE_UPLOAD_PATH = "/apiv2-files/file/upload"
PARSE_PROGRESS_PATH = "/apiv2-files/kimi.gateway.file.v1.FileService/GetFileParseProgress"


def read_multipart(content_type, raw):
    """{part name: (file name, bytes, content type)} of a multipart/form-data body."""
    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw)
    if not message.is_multipart():
        return {}
    return {part.get_param("name", header="content-disposition"):
            (part.get_filename(), part.get_payload(decode=True), part.get_content_type())
            for part in message.iter_parts()}


class UploadRoutes:
    """A mixin for the fake's request handler; state lives on the FakeKimi (`uploads`, `files`)."""

    def _upload_route(self, raw):
        """True when the request was one of the upload steps (and has been answered)."""
        if self.path in (FILE_UPLOAD_PATH, PARSE_PROGRESS_PATH):
            self._new_upload_route(raw)
            return True
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

    def _new_upload_route(self, raw):
        if self.fake.new_uploads_missing:
            return self._not_found(raw)  # fake_kimi.py's: recorded, then 404
        if self.path == PARSE_PROGRESS_PATH:
            try:
                body = json.loads(raw or b"null")
            except ValueError:
                body = None
        else:
            body = None
        self.fake._record(self.path, self.headers, body, raw)
        if not self.headers.get("Authorization", "").startswith("Bearer "):
            self._send_body(401, b'{"code":"unauthenticated","message":"no token"}')
        elif self.path == FILE_UPLOAD_PATH:
            self._take_file(read_multipart(self.headers.get("Content-Type", ""), raw).get("file"))
        elif isinstance(body, dict) and isinstance(body.get("file_ids"), list):
            self._send_json({"progresses": [{"fileId": file_id, "status": self.fake._next_progress()}
                                            for file_id in body["file_ids"]]})
        else:
            self._send_body(400, b'{"code":"invalid_argument","message":"file_ids is required"}')

    def _take_file(self, part):
        if part is None:
            return self._send_body(400, b'{"code":"invalid_argument","message":"no file part"}')
        name, data, mime = part
        file_id = "d" + uuid.uuid4().hex[:19]
        with self.fake._lock:
            self.fake.uploads[file_id] = (data, mime)
            self.fake.files[file_id] = {"id": file_id, "name": name, "size": len(data), "content_type": mime}
        self._send_json({"file": {"id": file_id, "meta": {"name": name, "contentType": mime,
                                                          "sizeBytes": str(len(data))}}})

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
