"""A scripted chat-completions server on 127.0.0.1 for the teacher tests.

It answers ``POST /v1/chat/completions`` the way OpenAI-compatible servers do. Each rationale
ends with "So, the answer is (X)." where X is the gold letter read from the prompt's
"Correct answer: (X)" line (or, with ``wrong_odd_choices``, a wrong letter for odd choices).
``ignore_n`` answers one choice whatever ``n`` asks for, as some servers do. ``script`` lists the behaviours of the first requests (``"429"``, ``"500"``, ``"401"``,
``"malformed"``, ``"slow"``, ``"trickle"``: the reply a byte every ``slow_seconds``); ``malformed_for`` makes every request about one question malformed.
Every request body is recorded, with the question it asks about and when it arrived, and the
most requests ever in flight at once is kept.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler

from loopback import LoopbackServer

_QUERY = re.compile(r"Question: (.*)\nCorrect answer: \(([A-H])\)\nExplanation:$")


class ChatServer(LoopbackServer):
    def __init__(self, *, script=(), wrong_odd_choices=False, malformed_for=None, slow_seconds=2.0, delay=0.0,
                 ignore_n=False):
        self.script, self.wrong_odd_choices, self.malformed_for = list(script), wrong_odd_choices, malformed_for
        self.ignore_n = ignore_n
        self.slow_seconds, self.delay = slow_seconds, delay
        self.requests: list[dict] = []
        self.in_flight = self.max_in_flight = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    behaviour = server.script.pop(0) if server.script else "ok"
                    body["_question"], body["_gold"] = _QUERY.search(body["messages"][-1]["content"]).groups()
                    body["_authorization"] = self.headers.get("Authorization")
                    body["_path"], body["_time"] = self.path, time.monotonic()
                    server.requests.append(body)
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                if server.malformed_for and server.malformed_for in body["_question"]:
                    behaviour = "malformed"
                time.sleep(server.delay)
                status, payload, headers = server.respond(behaviour, body, self.headers.get("Authorization"))
                try:
                    self.send_response(status)
                    for key, value in {"Content-Type": "application/json", "Content-Length": str(len(payload)), **headers}.items():
                        self.send_header(key, value)
                    self.end_headers()
                    step = 1 if behaviour == "trickle" else max(1, len(payload))
                    for start in range(0, len(payload), step):
                        self.wfile.write(payload[start:start + step])
                        if behaviour == "trickle":
                            self.wfile.flush()
                            time.sleep(server.slow_seconds)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
                    pass
                finally:
                    with server.lock:
                        server.in_flight -= 1

        self._serve(Handler)

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1"

    def count(self) -> int:
        with self.lock:
            return len(self.requests)

    def respond(self, behaviour: str, body: dict, authorization: str | None):
        if behaviour == "429":
            return 429, b'{"error": {"message": "rate limited"}}', {"Retry-After": "0"}
        if behaviour == "500":
            return 500, b"internal error", {}
        if behaviour == "401":  # like real servers, quote (part of) the key back
            return 401, json.dumps({"error": {"message": f"Incorrect API key provided: {authorization}"}}).encode(), {}
        if behaviour == "malformed":
            return 200, b'{"id": "x", "choices": [{"message": {"content": "trunc', {}
        if behaviour == "slow":
            time.sleep(self.slow_seconds)
        gold = "ABCDEFGH".index(body["_gold"])
        choices = []
        for i in range(1 if self.ignore_n else body.get("n") or 1):
            wrong = (gold + 1) % 2  # A or B, never the gold letter
            letter = "ABCDEFGH"[wrong if self.wrong_odd_choices and i % 2 else gold]
            content = f"Thinking about: {body['_question'][:40]}. Step {i}. So, the answer is ({letter})."
            choices.append({"index": i, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"})
        payload = {"id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": body["model"],
                   "system_fingerprint": "", "choices": choices,
                   "usage": {"prompt_tokens": 100, "completion_tokens": 20 * len(choices), "total_tokens": 100 + 20 * len(choices)}}
        return 200, json.dumps(payload).encode(), {}

