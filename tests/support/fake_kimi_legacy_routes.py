"""The routes of fake_kimi_legacy.py: auth, chats, the completion stream and the upload steps,
answering as docs/kimi-protocol.md part B describes. Mixed into FakeKimiLegacy; standard library only.
"""

import base64
import itertools
import json
import re
import time

_COMPLETION = re.compile(r"^/api/chat/([0-9a-zA-Z]{20})/completion/stream$")
_CHAT = re.compile(r"^/api/chat/([0-9a-zA-Z]{20})$")
_serial = itertools.count(1)


def encode_sse(event):
    return b"data: " + json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"


def new_id(prefix):
    """A 20-character id like Kimi's (B.2)."""
    return (prefix + "%016d" % next(_serial))[-20:].rjust(20, "0")


def _access_jwt(user_id, expires_in):
    """An access token shaped like Kimi's (a JWT with `exp`); the signature is never checked by clients."""
    def part(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()
    now = int(time.time())
    claims = {"sub": user_id, "typ": "access", "app_id": "kimi-legacy", "iat": now, "exp": now + expires_in,
              "jti": next(_serial)}
    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


def _words(text):
    words = re.split(r"(?<=\s)(?=\S)", text)
    return ["".join(words[i:i + 3]) for i in range(0, len(words), 3)] or [""]


class Routes:
    """Request handling; state (self.chats, self.access, ...) and scripts live in FakeKimiLegacy."""

    def _serve(self, handler, method, body, raw):
        path = handler.path.split("?")[0]
        if (method, path) == ("GET", "/api/auth/token/refresh"):
            return self._refresh(handler)
        if method == "PUT" and path.startswith("/upload/"):
            return self._put_upload(handler, path[len("/upload/"):], raw)
        user_id = self._user_of(handler)
        if user_id is None:
            return handler.send_json(401, {"error_type": "auth.token.invalid", "message": "auth expired"})
        routes = {("GET", "/api/user"): self._user, ("POST", "/api/chat"): self._create_chat,
                  ("GET", "/api/chat/research/usage"): self._research_usage,
                  ("POST", "/api/pre-sign-url"): self._pre_sign, ("POST", "/api/file"): self._register_file,
                  ("POST", "/api/file/parse_process"): self._parse_process}
        if (method, path) in routes:
            return routes[(method, path)](handler, body or {}, user_id)
        match = _CHAT.match(path)
        if method == "DELETE" and match:
            return self._delete_chat(handler, match.group(1))
        match = _COMPLETION.match(path)
        if method == "POST" and match:
            return self._completion(handler, match.group(1), body or {})
        handler.send_json(404, {"error_type": "not_found", "message": f"no route {method} {path}"})

    def _user_of(self, handler):
        auth = handler.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        with self._lock:
            return None if token in self.revoked_access else self.access.get(token)

    # Auth (B.1).

    def _refresh(self, handler):
        auth = handler.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        with self._lock:
            self.refresh_calls += 1
            delay, release = self.refresh_delay, self._release
        if delay:
            release.wait(delay)  # holds the refresh open so concurrent callers overlap with it
        with self._lock:
            if not token or token in self.rejected_refresh:
                return handler.send_json(401, {"error_type": "auth.token.invalid", "message": "refresh expired"})
            user_id = self.users.setdefault(token, new_id("user"))
            access, rotated = _access_jwt(user_id, self.access_ttl), self._rotate(token, user_id)
            self.access[access] = user_id
        handler.send_json(200, {"access_token": access, "refresh_token": rotated})

    def _rotate(self, token, user_id):
        """The refresh token to hand back for `token` (called with the lock held)."""
        if not self.rotate_refresh:
            return token
        rotated = "rt-" + new_id("rot")
        self.users[rotated] = user_id
        self.issued_refresh.append(rotated)
        if self.void_used_refresh:
            self.rejected_refresh.add(token)
        return rotated

    def _user(self, handler, body, user_id):
        with self._lock:
            self.user_calls += 1
        handler.send_json(200, {"id": user_id, "name": "Fake User", "status": "normal"})

    def revoke(self, access_token=None):
        """Make access tokens (one, or every one issued so far) answer 401 from now on."""
        with self._lock:
            self.revoked_access.update([access_token] if access_token else list(self.access))

    # Chats (B.2, B.3).

    def _create_chat(self, handler, body, user_id):
        chat_id = new_id("chat")
        with self._lock:
            self.chats[chat_id] = {"user": user_id, "kimiplus_id": body.get("kimiplus_id"), "segments": []}
            self.created_chats.append(chat_id)
        handler.send_json(200, {"id": chat_id, "name": body.get("name", ""),
                                "kimiplus_id": body.get("kimiplus_id")})

    def _delete_chat(self, handler, chat_id):
        with self._lock:
            known = self.chats.pop(chat_id, None) is not None
            if known:
                self.deleted_chats.append(chat_id)
        handler.send_json(200 if known else 404, {} if known else {"error_type": "chat.not_found", "message": ""})

    def _research_usage(self, handler, body, user_id):
        handler.send_json(200, dict(self.research_usage))

    def _completion(self, handler, chat_id, body):
        with self._lock:
            chat = self.chats.get(chat_id)
            self.completions.append((chat_id, body))
            is_busy = chat_id in self.streaming_chats
            if chat is not None and not is_busy:
                self.streaming_chats.add(chat_id)
            release = self._release
        if chat is None:
            return handler.send_json(404, {"error_type": "chat.not_found", "message": "chat not found"})
        if body.get("action") == "continue" and body.get("segment_id") != (chat["segments"] or [None])[-1]:
            with self._lock:
                self.streaming_chats.discard(chat_id)
            return handler.send_json(400, {"error_type": "chat.segment_not_found", "message": "no such segment"})
        if is_busy:  # a real check, as on Kimi: one answer streams into a chat at a time
            return handler.send_stream([encode_sse(_error_event("chat.user_stream_pushing", "still answering"))],
                                       release)
        try:
            kind, options = self._next_script()
            if kind == "http":
                return handler.send_json(options["status"], options["body"])
            events, options = self._events_for(kind, options, chat_id, body, chat)
            chunks = [encode_sse(event) for event in events]
            if options.get("split"):
                data, size = b"".join(chunks), options["split"]
                chunks = [data[i:i + size] for i in range(0, len(data), size)]
            # The answer is over once its last event leaves, as on Kimi: a client that asks again as soon
            # as it reads that event must not find the chat still streaming (the race a CI run met).
            answered = None if kind == "hold" else (lambda: self._answered(chat_id))
            handler.send_stream(chunks, release, options.get("delay", 0.0), options.get("finish", True),
                                hold=kind == "hold", before_last=answered)
        finally:
            self._answered(chat_id)

    def _answered(self, chat_id):
        with self._lock:
            self.streaming_chats.discard(chat_id)

    def _events_for(self, kind, options, chat_id, body, chat):
        prompt = str(((body.get("messages") or [{}])[0] or {}).get("content", ""))
        segment_id = new_id("seg")
        head = [{"event": "req", "id": segment_id, "group_id": new_id("grp"), "content": prompt, "refs": []},
                {"event": "resp", "id": new_id("resp"), "group_id": segment_id}]
        if kind == "events":  # scripted events name their own segments
            chat["segments"].extend(e["id"] for e in options["events"] if e.get("event") == "req" and "id" in e)
            return options["events"], options
        chat["segments"].append(segment_id)
        if kind == "error":
            text = [{"event": "cmpl", "text": options["after_text"]}] if options["after_text"] else []
            return head + text + [_error_event(options["error_type"], options["message"])], options
        if kind == "hold":
            return head + [{"event": "cmpl", "text": options["text"]}], options
        if kind == "segment":
            tail = [{"event": "length"}] if options["is_cut"] else []
            text = [{"event": "cmpl", "text": piece} for piece in _words(options["text"])]
            return head + text + tail + [{"event": "done"}, {"event": "all_done"}], options
        text = [{"event": "cmpl", "text": piece} for piece in _words(prompt)]  # echo
        return head + text + [{"event": "done"}, {"event": "all_done"}], options

    # Uploads (B.6).

    def _pre_sign(self, handler, body, user_id):
        object_name = "obj-" + new_id("o")
        handler.send_json(200, {"url": f"{self.url}/upload/{object_name}", "object_name": object_name,
                                "file_id": "fid-" + object_name[4:]})

    def _put_upload(self, handler, object_name, raw):
        with self._lock:
            self.uploads[object_name] = (raw, handler.headers.get("Content-Type", ""))
        handler.send_json(200, b"", content_type="text/plain")

    def _register_file(self, handler, body, user_id):
        object_name = body.get("object_name") or "obj-" + str(body.get("file_id", ""))[4:]
        with self._lock:
            data, _ = self.uploads.get(object_name, (None, None))
            if data is None:
                return handler.send_json(400, {"error_type": "file.not_uploaded", "message": "nothing uploaded"})
            file = {"id": new_id("file"), "name": body.get("name", ""), "size": len(data),
                    "type": body.get("type"), "status": "initialized", "object_name": object_name}
            self.files[file["id"]] = file
        handler.send_json(200, file)

    def _parse_process(self, handler, body, user_id):
        ids, behaviour, release = body.get("ids") or [], self.parse_behaviour, self._release
        if behaviour == "hang":
            handler.send_stream([encode_sse({"id": i, "status": "parsing"}) for i in ids], release, hold=True)
            return
        statuses = [{"id": i, "status": "parsing"} for i in ids] + [{"id": i, "status": behaviour} for i in ids]
        handler.send_stream([encode_sse(status) for status in statuses], release)


def _error_event(error_type, message):
    return {"event": "error", "error": {"error_type": error_type, "message": message, "detail": ""}}
