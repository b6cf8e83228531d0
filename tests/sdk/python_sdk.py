"""Sends journey.json's traffic to a Qualify server with a real Python SDK.

    python_sdk.py segment|rudder HOST WRITE_KEY USER_ID ANONYMOUS_ID

Run by crates/cli/tests/sdk.rs with the interpreter of .venv-sdk/ (made by
scripts/test from requirements.txt). The SDK runs with its defaults; only its
host (data plane URL) and an error callback are set: segment-analytics-python
posts plain JSON with `writeKey` in the body, rudder-sdk-python gzips by
default. The HTTP session the SDK posts through is wrapped, not changed, to
record what went over the wire and what came back.

The last line on stdout is a JSON report: {"sdk", "version", "requests":
[{"status", "content_encoding", "content_type", "authorization",
"body_write_key", "messages"}], "errors": [...]}. Exits 1 if the SDK
reported an error or an answer was not exactly 200.
"""

import gzip
import json
import pathlib
import sys


def load_sdk(name):
    if name == "segment":
        import segment.analytics.request as request
        from segment.analytics.client import Client
        from segment.analytics.version import VERSION
    elif name == "rudder":
        import rudderstack.analytics.request as request
        from rudderstack.analytics.client import Client
        from rudderstack.analytics.version import VERSION
    else:
        sys.exit(f"unknown SDK {name!r}: segment or rudder")
    return request, Client, VERSION


def main():
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    name, host, write_key, user_id, anonymous_id = sys.argv[1:]
    journey = json.loads((pathlib.Path(__file__).parent / "journey.json").read_text())
    request, Client, version = load_sdk(name)

    requests_seen = []
    errors = []

    session = request._session
    post = session.post

    def spy(url, **kwargs):
        response = post(url, **kwargs)
        headers = kwargs.get("headers") or {}
        data = kwargs.get("data")
        if isinstance(data, str):
            data = data.encode("utf-8")
        if headers.get("Content-Encoding") == "gzip":
            data = gzip.decompress(data)
        body = json.loads(data)
        # rudder passes HTTPBasicAuth through `auth=`, segment sets the header.
        authorization = headers.get("Authorization")
        if authorization is None and kwargs.get("auth") is not None:
            authorization = "Basic (requests auth)"
        requests_seen.append(
            {
                "url": url,
                "status": response.status_code,
                "content_encoding": headers.get("Content-Encoding"),
                "content_type": headers.get("Content-Type"),
                "authorization": (authorization or "").split(" ")[0] or None,
                "body_write_key": "writeKey" in body,
                "messages": len(body.get("batch", [])),
                "answer": response.text[:200],
            }
        )
        return response

    session.post = spy

    def on_error(error, items):
        errors.append(f"{type(error).__name__}: {error} ({len(items)} message(s))")

    # Defaults but for the host, the error callback and no retries (a failure
    # should fail the test now, not after a minute of back-off).
    client = Client(write_key, host=host, on_error=on_error, max_retries=0)

    client.page(anonymous_id=anonymous_id, name=journey["anonymous_page"]["name"],
                properties=journey["anonymous_page"]["properties"])
    client.identify(user_id=user_id, traits=journey["traits"], anonymous_id=anonymous_id)
    for page in journey["pages"]:
        client.page(user_id=user_id, name=page["name"], properties=page["properties"])
    for track in journey["tracks"]:
        client.track(user_id=user_id, event=track["event"], properties=track["properties"])
    client.flush()
    client.join()

    report = {"sdk": f"{name}-python", "version": version, "requests": requests_seen, "errors": errors}
    print(json.dumps(report))
    failed = errors or not requests_seen or any(seen["status"] != 200 for seen in requests_seen)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
