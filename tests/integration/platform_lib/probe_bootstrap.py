#!/usr/bin/env python3
# A function that attacks its sandbox and reports what it found (tests/integration/platform_sandbox.sh).
# Event {"probe": NAME, ...}; answers {"probe": NAME, ...findings}.
import errno, json, os, socket, threading, time, urllib.error, urllib.request

API = os.environ["AWS_LAMBDA_RUNTIME_API"]
BASE = f"http://{API}/2018-06-01/runtime/"
LATE_NEXT = "/tmp/late-next.json"


def call(method, path, data=None):
    req = urllib.request.Request(BASE + path, data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def inherited_fds():
    """Descriptors above 2 and what they point at (the listing's own descriptor left out)."""
    found = {}
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd <= 2:
            continue
        try:
            found[fd] = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            pass  # the directory listing's own descriptor, closed by now
    return found


def try_accept(fds):
    """Accept on every inherited socket: the issue's function took gateway requests this way."""
    taken = []
    for fd, target in fds.items():
        if not target.startswith("socket:"):
            continue
        try:
            s = socket.socket(fileno=os.dup(fd))
            s.settimeout(0.2)
            conn, _ = s.accept()
            taken.append(conn.recv(4096).decode(errors="replace")[:200])
        except OSError:
            pass
    return taken


def try_connect(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return "connected"
    except OSError as e:
        return type(e).__name__


def late_next():
    # Runs while the runtime's own `next` is waiting: a second one must be refused at once, not steal events.
    time.sleep(0.3)
    status, _, body = call("GET", "invocation/next")
    with open(LATE_NEXT, "w") as f:
        json.dump({"status": status, "body": body.decode(errors="replace")}, f)


def probe(event, request_id):
    kind = event.get("probe")
    out = {"probe": kind, "pid": os.getpid(), "uid": os.getuid()}
    if kind == "fds":
        fds = inherited_fds()
        out["fds"] = fds
        out["accepted"] = try_accept(fds)
        if "port" in event:
            out["gateway"] = try_connect(int(event["port"]))
    elif kind == "runtime-api":
        # Out-of-turn calls during an invocation, each to be refused without harm.
        out["second_next"] = call("GET", "invocation/next")[0]
        out["foreign_response"] = call("POST", "invocation/00000000-0000-0000-0000-000000000000/response", b"{}")[0]
        out["foreign_error"] = call("POST", "invocation/not-an-id/error", b"{}")[0]
        out["init_error"] = call("POST", "init/error", b'{"errorType":"Forged"}')[0]
        threading.Thread(target=late_next, daemon=True).start()
    elif kind == "jail":
        try:
            with open(os.path.join(os.environ["LAMBDA_TASK_ROOT"], "written-by-the-function"), "w") as f:
                f.write("x")
            out["code_write"] = "written"
        except OSError as e:
            out["code_write"] = errno.errorcode.get(e.errno, str(e.errno))
        st = os.statvfs("/tmp")
        out["tmp_mb"] = st.f_blocks * st.f_frsize // (1 << 20)
        fd = os.open("/tmp/fill", os.O_CREAT | os.O_WRONLY, 0o600)
        try:
            # tmpfs refuses a reservation past its size before allocating anything.
            os.posix_fallocate(fd, 0, (out["tmp_mb"] + 1) << 20)
            out["tmp_past_size"] = "allocated"
        except OSError as e:
            out["tmp_past_size"] = os.strerror(e.errno)
        finally:
            os.close(fd)
            os.unlink("/tmp/fill")
        out["processes"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
        try:
            with open(os.path.join(os.environ.get("MODEL_PATH", "/nonexistent"), "model.bin")) as f:
                out["model_read"] = f.read().strip()
        except OSError as e:
            out["model_read"] = errno.errorcode.get(e.errno, str(e.errno))
    elif kind == "late-next":
        try:
            with open(LATE_NEXT) as f:
                out["late_next"] = json.load(f)
        except OSError as e:
            out["late_next"] = str(e)
    return out


while True:
    status, headers, body = call("GET", "invocation/next")
    if status != 200:
        time.sleep(0.1)
        continue
    request_id = headers["Lambda-Runtime-Aws-Request-Id"]
    result = probe(json.loads(body), request_id)
    call("POST", f"invocation/{request_id}/response", json.dumps(result).encode())
