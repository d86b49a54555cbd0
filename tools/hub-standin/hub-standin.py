#!/usr/bin/python3
"""A stand-in for the ThreeFold 0-hub (threefoldtech/0-hub) on the hub's own stack: Flask and werkzeug's
threaded development server, as the hub runs (`app.run(..., threaded=True)`).

It speaks the hub's HTTP API as RootfsForge uses it (docs/flist-format.md section 9): bearer-token API calls, the
synchronous upload `POST /api/flist/me/upload`, the asynchronous web-form upload `POST /upload` whose progress is
told as server-sent events at `/listen/<jobid>`, the user and flist listings and the downloads ZOS fetches. It cannot
make a real flist (that needs zflist and a 0-db): the `.flist` it publishes is a tar.gz holding a JSON listing of
the tree the upload unpacked to. Switches simulate a read-only hub, a failing conversion, a slow job, a flist that
appears only some time after the hub reported success, and a progress stream that drops.

Every request is recorded as one JSON line in the request log (headers included, the Authorization header redacted:
no token is ever written or printed). See README.md beside this file.
"""
import argparse
import hashlib
import hmac
import json
import os
import queue
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import uuid

from flask import Flask, Response, abort, g, jsonify, make_response, request, send_from_directory
from werkzeug.utils import secure_filename

# The switches, settable on the command line and at run time through POST /_standin/config.
DEFAULT_SWITCHES = {
    "readonly": False,           # every API call answers 400 {"message":"readonly mode"}, as the hub's apicall() does
    "async_api": False,          # POST /api/flist/me/upload answers with a job id (like POST /upload) instead of the flist
    "fail_conversion": None,     # a message: the conversion fails (sync: 500; async: an error event)
    "job_seconds": 0.0,          # how long a conversion takes (progress events spread over it)
    "publish_delay": 0.0,        # seconds between the hub reporting success and the .flist appearing
    "sse_drop_after": None,      # a /listen connection ends after this many events, without the job's end
    "sse_drops": 1,              # how many /listen connections of a job drop that way (-1: all of them)
    "sse_drop_mode": "close",    # "close": the response ends cleanly; "reset": it is cut mid-stream
    "forget_dropped_jobs": False,  # after a drop the job id is forgotten (later /listen answers 404)
    "keep_workspace": False,     # keep the directory the upload was unpacked into (its path is logged)
}

ALLOWED_EXTENSION = ".tar.gz"    # the hub's config['allowed-extensions']


class State:
    def __init__(self, args, switches):
        self.data = os.path.abspath(args.data)
        self.users = os.path.join(self.data, "users")        # the hub's public-directory
        self.workdir = os.path.join(self.data, "workdir")    # flist-work-directory (workspaces)
        self.distfiles = os.path.join(self.data, "distfiles")  # upload-directory
        self.pending = os.path.join(self.data, "pending")    # flists waiting for their publish delay
        for d in (self.users, self.workdir, self.distfiles, self.pending):
            os.makedirs(d, exist_ok=True)
        self.log_path = os.path.abspath(args.log or os.path.join(self.data, "requests.jsonl"))
        self.log_lock = threading.Lock()
        self.seq = 0
        self.tokens = load_tokens(args.tokens)
        self.start_switches = dict(switches)
        self.switches = dict(switches)
        self.jobs = {}
        self.jobs_lock = threading.Lock()

    def log(self, record):
        with self.log_lock:
            self.seq += 1
            record = dict(record, seq=self.seq, time=round(time.time(), 3))
            with open(self.log_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(record, sort_keys=True) + "\n")

    def user_path(self, user):
        return os.path.join(self.users, user)


def load_tokens(path):
    """Lines "USER TOKEN" (blank lines and # comments ignored)."""
    tokens = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            user, _, token = line.partition(" ")
            if not token.strip() or "/" in user:
                sys.exit("hub-standin: bad line in the tokens file (want: USER TOKEN)")
            tokens[token.strip()] = user
    if not tokens:
        sys.exit("hub-standin: the tokens file holds no token")
    return tokens


app = Flask(__name__)
app.url_map.strict_slashes = False
STATE = None  # set in main()


######################################################################################################################
# Request log
######################################################################################################################

def redacted_headers():
    out = {}
    for name, value in request.headers.items():
        if name.lower() in ("authorization", "cookie"):
            scheme = value.split(" ", 1)[0] if name.lower() == "authorization" else ""
            value = (scheme + " <redacted>").strip()
        out[name] = value
    return out


@app.before_request
def record_start():
    g.record = {
        "method": request.method,
        "path": request.path,
        "query": request.query_string.decode("latin-1"),
        "headers": redacted_headers(),
        "content_length": request.headers.get("Content-Length"),
        "transfer_encoding": request.headers.get("Transfer-Encoding"),
    }


@app.after_request
def record_end(response):
    response.headers["Access-Control-Allow-Origin"] = "*"  # the hub's cors_global()
    record = getattr(g, "record", None)
    if record is not None:
        record["status"] = response.status_code
        if not response.is_streamed and response.mimetype == "application/json":
            try:
                record["answer"] = json.loads(response.get_data(as_text=True))
            except ValueError:
                pass
        STATE.log(record)
    return response


######################################################################################################################
# Authentication (hub/security.py apicall(), hub/threebot.py signed())
######################################################################################################################

def error(message, code):
    return jsonify({"message": message, "status": "error"}), code


def api_response(error_message=None, code=200, extra=None):
    """The hub's api_response(): {"status":"success"[,"payload":…]} or {"status":"error","message":…}."""
    reply = {"status": "success"}
    if error_message:
        reply = {"status": "error", "message": error_message}
    if extra:
        reply["payload"] = extra
    response = make_response(json.dumps(reply) + "\n", code)
    response.headers["Content-Type"] = "application/json"
    return response


def authenticate():
    """(username, None) or (None, error response). The token is compared in constant time and never logged."""
    header = request.headers.get("Authorization")
    if not header:
        return None, error("no authorization provided", 401)
    match = re.match(r"^bearer (.*)$", header, re.IGNORECASE)
    if not match:
        return None, error("invalid authorization header", 400)
    given = match.group(1).encode()
    for token, user in STATE.tokens.items():
        if hmac.compare_digest(given, token.encode()):
            return user, None
    # The hub verifies a 3Bot token's signature; a token it did not sign fails that check.
    return None, error("invalid signature", 401)


def apicall(handler):
    def wrapper(*args, **kwargs):
        if STATE.switches["readonly"]:
            return error("readonly mode", 400)
        user, failure = authenticate()
        if failure is not None:
            return failure
        g.username = user
        g.record["user"] = user
        return handler(*args, **kwargs)
    wrapper.__name__ = handler.__name__
    return wrapper


######################################################################################################################
# Jobs and their progress stream (hub/notifier.py EventNotifier: one queue per job, "data: <json>\n\n" messages,
# None marks the end; the queue is removed once a listener has read the end)
######################################################################################################################

class Job:
    def __init__(self):
        self.id = str(uuid.uuid4())
        self.queue = queue.Queue(maxsize=8192)
        self.drops = 0

    def push(self, item):
        self.queue.put_nowait("data: %s\n\n" % json.dumps(item))

    def finalize(self):
        self.queue.put_nowait(None)


def new_job():
    job = Job()
    with STATE.jobs_lock:
        STATE.jobs[job.id] = job
    return job


def forget_job(job_id):
    with STATE.jobs_lock:
        STATE.jobs.pop(job_id, None)


class StreamCut(Exception):
    """Raised inside a streamed response to cut it mid-stream (sse_drop_mode "reset")."""


@app.route("/listen/<job_id>", methods=["GET"])
def listen(job_id):
    with STATE.jobs_lock:
        job = STATE.jobs.get(job_id)
    if job is None:
        return error("job id not found", 404)
    sw = STATE.switches
    drop_after = sw["sse_drop_after"]
    drops_allowed = sw["sse_drops"]
    will_drop = drop_after is not None and (drops_allowed < 0 or job.drops < drops_allowed)
    if will_drop:
        job.drops += 1
    mode = sw["sse_drop_mode"]
    forget = sw["forget_dropped_jobs"]

    def stream():
        sent = 0
        while True:
            if will_drop and sent >= drop_after:
                STATE.log({"kind": "listen-end", "job": job_id, "events": sent, "reason": "dropped", "mode": mode})
                if forget:
                    forget_job(job_id)
                if mode == "reset":
                    raise StreamCut("progress stream cut by hub-standin (sse_drop_mode=reset)")
                return
            message = job.queue.get()
            if message is None:
                forget_job(job_id)
                STATE.log({"kind": "listen-end", "job": job_id, "events": sent, "reason": "finished"})
                return
            sent += 1
            yield message

    return Response(stream(), mimetype="text/event-stream")


######################################################################################################################
# Uploads
######################################################################################################################

def receive_upload():
    """Saves the multipart field "file" (api_flist_upload's checks). ({source, clean name}, None) or (None, message)."""
    if "file" not in request.files:
        return None, "no file found"
    file = request.files["file"]
    if file.filename == "":
        return None, "no file selected"
    if not file.filename.endswith(ALLOWED_EXTENSION):
        return None, "this file is not allowed"
    filename = secure_filename(file.filename)
    metadata = {k[9:]: v for k, v in request.form.items() if k.startswith("metadata-")}
    # The hub saves to upload-directory/<filename>; a unique directory keeps concurrent uploads apart here.
    source_dir = tempfile.mkdtemp(prefix="upload-", dir=STATE.distfiles)
    source = os.path.join(source_dir, filename)
    file.save(source)
    with open(source, "rb") as f:
        digest = hashlib.sha256()
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    g.record["upload"] = {
        "field": "file",
        "filename": file.filename,
        "content_type": file.content_type,
        "saved_bytes": os.path.getsize(source),
        "sha256": digest.hexdigest(),
        "metadata": metadata,
    }
    clean = filename[:-len(ALLOWED_EXTENSION)]
    return {"source": source, "name": clean + ".flist", "user": g.username, "record": g.record["upload"]}, None


def scan_tree(root):
    """A listing of the unpacked tree (what this stand-in publishes instead of zflist's index) and putdir-like counts."""
    entries = []
    counts = {"regular": 0, "directory": 0, "symlink": 0, "special": 0, "fullsize": 0}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            rel = "/" + os.path.relpath(path, root)
            entry = {"path": rel, "mode": st.st_mode, "uid": st.st_uid, "gid": st.st_gid, "mtime": int(st.st_mtime)}
            if stat.S_ISDIR(st.st_mode):
                counts["directory"] += 1
                entry["type"] = "directory"
            elif stat.S_ISLNK(st.st_mode):
                counts["symlink"] += 1
                entry["type"] = "symlink"
                entry["target"] = os.readlink(path)
            elif stat.S_ISREG(st.st_mode):
                counts["regular"] += 1
                counts["fullsize"] += st.st_size
                entry["type"] = "regular"
                entry["size"] = st.st_size
            else:
                counts["special"] += 1
                entry["type"] = "special"
                entry["rdev"] = st.st_rdev
            entries.append(entry)
    entries.sort(key=lambda e: e["path"])
    return entries, counts


def convert(upload, job=None):
    """What HubPublicFlist.create does: unpack into a workspace, build the flist, publish it. (flist, stats) or error."""
    record = upload["record"]
    workspace = tempfile.mkdtemp(prefix="workspace-", dir=STATE.workdir)
    try:
        # The hub runs `tar -xpf` (compression detected) and ignores its exit status; `-z` here insists on gzip and a
        # failed extraction is the conversion failure it would lead to.
        p = subprocess.run(["tar", "-xpzf", upload["source"], "-C", workspace], capture_output=True)
        record["tar_exit"] = p.returncode
        if p.returncode != 0:
            record["tar_stderr"] = p.stderr.decode("utf-8", "replace")[-2000:]
            return None, "could not unpack the archive: %s" % p.stderr.decode("utf-8", "replace").strip()[-300:]
        entries, counts = scan_tree(workspace)
        total = max(len(entries), 1)
        steps = min(10, total)
        for i in range(1, steps + 1):
            if STATE.switches["job_seconds"] > 0:
                time.sleep(STATE.switches["job_seconds"] / steps)
            if job is not None:
                current = total * i // steps
                job.push({"status": "update", "message": "Building: processing item %d of %d" % (current, total),
                          "progress": int(current * 100 / total)})
        failure = STATE.switches["fail_conversion"]
        if failure:
            return None, failure
        # Stand-in for zflist's index: a tar.gz of the listing of the unpacked tree.
        pending = tempfile.mkdtemp(prefix="flist-", dir=STATE.pending)
        built = os.path.join(pending, upload["name"])
        listing = os.path.join(pending, "flist.json")
        with open(listing, "w", encoding="utf-8") as f:
            json.dump({"made-by": "hub-standin (not a real flist)", "entries": entries}, f, indent=1, sort_keys=True)
        with tarfile.open(built, "w:gz") as tar:
            tar.add(listing, arcname="flist.json")
        publish(upload["user"], built, STATE.switches["publish_delay"])
        stats = {"success": True, "error": None, "response": counts, "status": 0}  # shaped like zflist's putdir JSON
        record["flist"] = upload["name"]
        return upload["name"], stats
    finally:
        if STATE.switches["keep_workspace"]:
            record["workspace"] = workspace
        else:
            shutil.rmtree(workspace, ignore_errors=True)
        shutil.rmtree(os.path.dirname(upload["source"]), ignore_errors=True)


def publish(user, built, delay):
    def move():
        target_dir = STATE.user_path(user)
        os.makedirs(target_dir, exist_ok=True)
        os.replace(built, os.path.join(target_dir, os.path.basename(built)))
        shutil.rmtree(os.path.dirname(built), ignore_errors=True)
        STATE.log({"kind": "published", "user": user, "flist": os.path.basename(built)})
    if delay and delay > 0:
        t = threading.Timer(delay, move)
        t.daemon = True
        t.start()
    else:
        move()


def run_job(job, upload):
    """The hub's flist.create thread (HubPublicFlist.create; errors told as docker.py's convert() tells them)."""
    try:
        name, stats = convert(upload, job)
        if name is None:
            job.push({"status": "error", "message": stats})
        else:
            job.push({"status": "update", "message": "Image ready !", "progress": 100})
            job.push({"status": "info", "info": {"filename": name, "flist": stats["response"]}})
    except Exception as e:  # noqa: BLE001 - the stream must end whatever happened
        job.push({"status": "error", "message": "internal error: %s" % e})
    finally:
        STATE.log({"kind": "job-end", "job": job.id, "upload": upload["record"]})
        job.finalize()


def start_job(upload):
    job = new_job()
    g.record["job"] = job.id
    threading.Thread(target=run_job, args=(job, upload), daemon=True).start()
    return jsonify({"status": "success", "jobid": job.id})


@app.route("/api/flist/me/upload", methods=["POST"])
@apicall
def api_my_upload():
    upload, message = receive_upload()
    if upload is None:
        return api_response(message, 500)
    if STATE.switches["async_api"]:
        return start_job(upload)
    name, stats = convert(upload)
    if name is None:
        return api_response(stats, 500)
    return api_response(extra={"name": name, "files": stats})


@app.route("/upload", methods=["GET", "POST"])
def upload_form():
    # The hub's /upload is protected() by a browser session (3Bot login): read-only and unauthenticated visitors are
    # redirected. Here the session is replaced by the same bearer token the API takes.
    if STATE.switches["readonly"]:
        return Response(status=302, headers={"Location": "/readonly"})
    user, failure = authenticate()
    if failure is not None:
        return Response(status=302, headers={"Location": "/login-method"})
    g.username = user
    g.record["user"] = user
    if request.method == "GET":
        return ('<form action="/upload" method="post" enctype="multipart/form-data">'
                '<input type="file" name="file"><button type="submit">Upload</button></form>\n')
    upload, message = receive_upload()
    if upload is None:
        return jsonify({"status": "error", "message": message})  # a dict answered with 200, as the hub does
    return start_job(upload)


######################################################################################################################
# Listings and downloads
######################################################################################################################

def flist_filename(flist):
    return flist if flist.endswith(".flist") else flist + ".flist"


def user_contents(user):
    contents = []
    path = STATE.user_path(user)
    for name in sorted(os.listdir(path)):
        full = os.path.join(path, name)
        st = os.lstat(full)
        if stat.S_ISLNK(st.st_mode):
            tst = os.stat(full) if os.path.exists(full) else st
            contents.append({"name": name, "size": "%.2f KB" % (tst.st_size / 1024), "updated": int(tst.st_mtime),
                             "linktime": int(st.st_mtime), "type": "symlink", "target": os.readlink(full)})
        elif stat.S_ISREG(st.st_mode):
            contents.append({"name": name, "size": "%.2f KB" % (st.st_size / 1024), "updated": int(st.st_mtime),
                             "type": "regular"})
    return contents


def md5_of(path):
    if not os.path.isfile(path):
        return None
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def flist_info(target):
    st = os.lstat(target)
    return {"name": os.path.basename(target), "size": st.st_size, "updated": int(st.st_mtime), "type": "regular",
            "md5": md5_of(target)}


def flist_dump(target):
    """Stands for `zflist find`: the listing this stand-in stored in the flist."""
    with tarfile.open(target, "r:gz") as tar:
        member = tar.extractfile("flist.json")
        data = json.load(member)
    return {"content": [{"path": e["path"], "size": e.get("size", 0)} for e in data["entries"]]}


def inspect(user, flist, method):
    if not os.path.isdir(STATE.user_path(user)):
        return api_response("user not found", 404)
    target = os.path.join(STATE.user_path(user), flist_filename(flist))
    if not (os.path.isfile(target) or os.path.islink(target)):
        return api_response("source not found", 404)
    contents = flist_info(target) if method == "INFO" else flist_dump(target)
    response = make_response(json.dumps(contents) + "\n")
    response.headers["Content-Type"] = "application/json"
    return response


def json_answer(value):
    response = make_response(json.dumps(value) + "\n")
    response.headers["Content-Type"] = "application/json"
    return response


@app.route("/api/flist")
def api_list():
    out = []
    for user in sorted(os.listdir(STATE.users)):
        if os.path.isdir(STATE.user_path(user)):
            out.extend("%s/%s" % (user, f) for f in sorted(os.listdir(STATE.user_path(user))))
    return json_answer(out)


@app.route("/api/repositories")
def api_repositories():
    return json_answer([{"name": u, "official": False} for u in sorted(os.listdir(STATE.users))
                        if os.path.isdir(STATE.user_path(u))])


@app.route("/api/flist/me", methods=["GET"])
@apicall
def api_my_myself():
    return api_response(extra={"username": g.username})


@app.route("/api/flist/me/<flist>", methods=["GET", "DELETE"])
@apicall
def api_my_inspect(flist):
    if request.method == "DELETE":
        target = os.path.join(STATE.user_path(g.username), flist_filename(flist))
        if not os.path.isdir(STATE.user_path(g.username)):
            return api_response("user not found", 404)
        if not (os.path.isfile(target) or os.path.islink(target)):
            return api_response("source not found", 404)
        os.unlink(target)
        return api_response()
    return inspect(g.username, flist, "GET")


@app.route("/api/flist/<username>")
def api_user_contents(username):
    if not os.path.isdir(STATE.user_path(username)):
        abort(404)
    return json_answer(user_contents(username))


@app.route("/api/flist/<username>/<flist>", methods=["GET", "INFO"])
def api_inspect(username, flist):
    return inspect(username, flist, request.method)


@app.route("/api/flist/<username>/<flist>/light", methods=["GET"])
def api_inspect_light(username, flist):
    return inspect(username, flist, "INFO")


@app.route("/<username>/<flist>.flist")
def download_flist(username, flist):
    return send_from_directory(STATE.user_path(username), flist + ".flist")


@app.route("/<username>/<flist>.fl")
def download_fl(username, flist):
    """rfs v2 .fl files published next to the .flist ones (what `rootfsforge check --against hub:USER/NAME.fl` reads)."""
    return send_from_directory(STATE.user_path(username), flist + ".fl")


@app.route("/<username>/<flist>.flist.md5")
def checksum_flist(username, flist):
    digest = md5_of(os.path.join(STATE.user_path(username), flist + ".flist"))
    if not digest:
        abort(404)
    response = make_response(digest + "\n")
    response.headers["Content-Type"] = "text/plain"
    return response


######################################################################################################################
# Stand-in control (not part of the hub)
######################################################################################################################

@app.route("/_standin/config", methods=["GET", "POST"])
def standin_config():
    if request.method == "POST":
        changes = request.get_json(force=True)
        unknown = [k for k in changes if k not in DEFAULT_SWITCHES]
        if unknown:
            return error("unknown switch: %s" % ", ".join(unknown), 400)
        STATE.switches.update(changes)
    return jsonify(STATE.switches)


@app.route("/_standin/reset", methods=["POST"])
def standin_reset():
    """Back to the switches given at start; the request log emptied; jobs, workspaces and flists removed."""
    STATE.switches = dict(STATE.start_switches)
    with STATE.jobs_lock:
        STATE.jobs.clear()
    for d in (STATE.users, STATE.pending, STATE.workdir, STATE.distfiles):
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d, exist_ok=True)
    with STATE.log_lock:
        open(STATE.log_path, "w").close()
    g.record = None  # this request is not logged: the log starts empty
    return jsonify({"status": "success"})


def main():
    parser = argparse.ArgumentParser(description="A stand-in for the ThreeFold 0-hub (Flask/werkzeug).")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--data", required=True, help="directory for uploads, workspaces and published flists")
    parser.add_argument("--tokens", required=True, help='file of "USER TOKEN" lines: the accepted tokens')
    parser.add_argument("--log", help="request log, one JSON object a line (default: DATA/requests.jsonl)")
    parser.add_argument("--readonly", action="store_true")
    parser.add_argument("--async-api", action="store_true")
    parser.add_argument("--fail-conversion", metavar="MESSAGE")
    parser.add_argument("--job-seconds", type=float, default=0.0)
    parser.add_argument("--publish-delay", type=float, default=0.0)
    parser.add_argument("--sse-drop-after", type=int)
    parser.add_argument("--sse-drops", type=int, default=1)
    parser.add_argument("--sse-drop-mode", choices=["close", "reset"], default="close")
    parser.add_argument("--forget-dropped-jobs", action="store_true")
    parser.add_argument("--keep-workspace", action="store_true")
    args = parser.parse_args()
    switches = dict(DEFAULT_SWITCHES)
    for key in switches:
        value = getattr(args, key)
        if value is not None:
            switches[key] = value
    global STATE
    STATE = State(args, switches)
    print("[+] hub-standin: %d token(s), data in %s, request log %s" % (len(STATE.tokens), STATE.data, STATE.log_path),
          flush=True)
    app.run(host=args.host, port=args.port, debug=False, threaded=True)


if __name__ == "__main__":
    main()
