"""A model server for SageMaker framework-style model archives, standard library only.

Run ``python3 -m pipemode.model_server serve`` (SageMaker starts hosting containers with ``serve``;
the argument may also be left out). It serves the unpacked ``model.tar.gz`` in the model directory:
``$SAGEMAKER_MODEL_DIR``, else ``$SAGEMAKER_BASE_DIR/model``, else ``/opt/ml/model``.

User code is ``<model_dir>/code/inference.py`` unless ``SAGEMAKER_PROGRAM`` (the script's file name)
or ``SAGEMAKER_SUBMIT_DIRECTORY`` (a local folder or a ``file://`` URI) say otherwise. The code folder
goes on ``sys.path``. A ``requirements.txt`` there is reported on stderr and never installed.

Handlers, as the SageMaker PyTorch / scikit-learn inference toolkits define them:
``model_fn(model_dir)`` once at start; per request ``input_fn(body, content_type)``,
``predict_fn(data, model)``, ``output_fn(prediction, accept)``; or ``transform_fn(model, body,
content_type, accept)``, which takes precedence. ``transform_fn`` and ``output_fn`` return the body
(bytes or str), or a ``(body, content_type)`` tuple. Missing handlers get the defaults below
(TorchScript / torch.load, joblib / pickle; JSON, CSV, npy). A handler given one argument more than
the contract (a ``context``) gets None for it.

HTTP: ``GET /ping`` (200 once the model is loaded: the model loads before the socket opens, and a
failing ``model_fn`` ends the process non-zero), ``POST /invocations``, ``GET /execution-parameters``
(what SageMaker batch transform asks). Errors are one-line ``text/plain`` bodies
``ExceptionType: message`` (415 unsupported content type, 406 unsupported accept, 413 payload too
large, 500 for handler exceptions; an exception with an integer ``status_code`` attribute in 400–599
chooses its status, as the toolkit's ``BaseInferenceToolkitError`` does); tracebacks go to stderr.
``X-Amzn-SageMaker-Custom-Attributes`` comes back unchanged.

Threads: one per connection (``ThreadingHTTPServer``, HTTP/1.1 keep-alive). A torch model's calls are
serialised by a lock; ``SAGEMAKER_MODEL_SERVER_WORKERS`` bounds concurrent invocations. SIGTERM (or
SIGINT) stops accepting, lets in-flight requests finish for up to ``SHUTDOWN_GRACE`` seconds and
exits 0. The server binds ``SAGEMAKER_BIND_TO_HOST`` (default 127.0.0.1, never all interfaces by
default) on ``SAGEMAKER_BIND_TO_PORT`` (default 8080).
"""
import csv
import importlib.util
import inspect
import io
import json
import os
import signal
import sys
import threading
import traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["ModelServerError", "Handlers", "load_handlers", "model_dir_from_env", "make_server", "main",
           "default_model_fn", "default_input_fn", "default_predict_fn", "default_output_fn"]

JSON = "application/json"
CSV = "text/csv"
NPY = "application/x-npy"
CUSTOM_ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"
SHUTDOWN_GRACE = 10.0
DISCARD_LIMIT = 128 << 20  # an oversized body up to this size is read (and dropped) before the 413
PREFIX = "pipemode model server"


class ModelServerError(Exception):
    """An error answered with ``status`` (415, 406, …) and a one-line message. User code may raise it."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status_code = int(status)


class StartupError(Exception):
    """The server cannot start (no model found, bad code location); the message says why."""


def _log(message):
    print(f"{PREFIX}: {message}", file=sys.stderr, flush=True)


def _optional(name):
    """The module ``name``, or None where it cannot be imported."""
    try:
        return importlib.import_module(name)
    except Exception:
        return None


def _torch_module(model):
    """True when ``model`` is a torch.nn.Module (torch is only looked at if something imported it)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(model, torch.nn.Module)


def _media_type(value):
    """``'Text/CSV; charset=utf-8'`` -> ``'text/csv'``."""
    return (value or "").split(";", 1)[0].strip().lower()


# ---------------------------------------------------------------------------------------------
# default handlers

def _model_device(torch):
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _load_torch(torch, path):
    device = _model_device(torch)
    try:
        model = torch.jit.load(path, map_location=device)
    except Exception as jit_error:  # not TorchScript: a pickled nn.Module
        try:
            model = torch.load(path, map_location=device, weights_only=False)
        except TypeError:  # torch without weights_only
            model = torch.load(path, map_location=device)
        except Exception as e:
            raise StartupError(f"{path} is neither TorchScript ({jit_error}) nor a torch.save'd module ({e})") from e
        if not isinstance(model, torch.nn.Module):
            raise StartupError(f"{path} holds a {type(model).__name__}, not a model (a state_dict needs a "
                               "model_fn in code/inference.py that builds the module and loads it)")
        model.to(device)
    return model.eval()


def default_model_fn(model_dir):
    """Exactly one ``*.pt``/``*.pth`` loaded with torch (TorchScript first), else exactly one
    ``*.joblib``/``*.pkl`` loaded with joblib (or pickle without joblib)."""
    try:
        names = sorted(n for n in os.listdir(model_dir) if os.path.isfile(os.path.join(model_dir, n)))
    except OSError as e:
        raise StartupError(f"cannot list the model directory {model_dir}: {e}") from e
    torch_files = [n for n in names if n.endswith((".pt", ".pth"))]
    pickles = [n for n in names if n.endswith((".joblib", ".pkl"))]
    torch = _optional("torch") if len(torch_files) == 1 else None
    if torch is not None:
        return _load_torch(torch, os.path.join(model_dir, torch_files[0]))
    if len(pickles) == 1:
        path = os.path.join(model_dir, pickles[0])
        joblib = _optional("joblib")
        if joblib is not None:
            return joblib.load(path)
        import pickle
        with open(path, "rb") as f:
            return pickle.load(f)
    found = ", ".join(names) or "no files"
    hint = ""
    if len(torch_files) == 1:
        hint = f"; {torch_files[0]} needs torch, which is not importable under {sys.executable}"
    raise StartupError(f"no model to load in {model_dir}: the default model_fn wants exactly one *.pt/*.pth "
                       f"(with torch) or one *.joblib/*.pkl file, and found {found}{hint}; or write "
                       "model_fn in code/inference.py")


def _number(cell):
    try:
        return float(cell)
    except ValueError:
        return cell


def default_input_fn(request_body, request_content_type):
    """``application/json`` -> json.loads; ``text/csv`` -> rows of floats (non-numbers kept as
    strings); ``application/x-npy`` -> a numpy array. Anything else is a 415."""
    kind = _media_type(request_content_type)
    if kind == JSON:
        return json.loads(request_body)
    if kind == CSV:
        text = request_body.decode("utf-8") if isinstance(request_body, (bytes, bytearray)) else request_body
        return [[_number(c) for c in row] for row in csv.reader(io.StringIO(text)) if row]
    if kind == NPY:
        numpy = _optional("numpy")
        if numpy is None:
            raise ModelServerError(415, f"{NPY} needs numpy, which is not importable under {sys.executable}")
        return numpy.load(io.BytesIO(request_body), allow_pickle=False)
    raise ModelServerError(415, f"content type {request_content_type!r} is not supported by the default "
                                f"input_fn ({JSON}, {CSV}, {NPY}); write input_fn in code/inference.py")


def default_predict_fn(input_data, model):
    """torch module: ``model(float tensor)`` under no_grad; else ``model.predict(data)``, else ``model(data)``."""
    if _torch_module(model):
        import torch
        params = next(iter(model.parameters()), None)
        device = params.device if params is not None else torch.device("cpu")
        if isinstance(input_data, torch.Tensor):
            tensor = input_data.to(device)
        else:
            tensor = torch.as_tensor(input_data, dtype=torch.float32, device=device)
        with torch.no_grad():
            return model(tensor)
    if hasattr(model, "predict"):
        return model.predict(input_data)
    if callable(model):
        return model(input_data)
    raise TypeError(f"the model ({type(model).__name__}) has no predict() and is not callable; write predict_fn")


def _plain(value):
    """Tensors and arrays as nested lists, numpy scalars as Python numbers."""
    if hasattr(value, "detach"):
        value = value.detach().cpu()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _json_default(value):
    plain = _plain(value)
    if plain is value:
        raise TypeError(f"{type(value).__name__} is not JSON serialisable")
    return plain


def _to_json(prediction):
    return json.dumps(_plain(prediction), default=_json_default).encode()


def _to_csv(prediction):
    rows = _plain(prediction)
    if not isinstance(rows, list):
        rows = [rows]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in rows:
        writer.writerow(row if isinstance(row, list) else [row])
    return out.getvalue().encode()


def _to_npy(prediction):
    numpy = _optional("numpy")
    if numpy is None:
        raise ModelServerError(406, f"{NPY} needs numpy, which is not importable under {sys.executable}")
    if hasattr(prediction, "detach"):
        prediction = prediction.detach().cpu().numpy()
    out = io.BytesIO()
    numpy.save(out, numpy.asarray(prediction), allow_pickle=False)
    return out.getvalue()


ENCODERS = {JSON: _to_json, CSV: _to_csv, NPY: _to_npy}


def default_output_fn(prediction, accept):
    """The first media type of ``accept`` that is JSON, CSV or npy (``*/*`` and ``application/*`` mean
    JSON), as ``(body, content_type)``; none of them is a 406."""
    for part in (accept or JSON).split(","):
        kind = _media_type(part)
        if kind in ("*/*", "application/*", ""):
            kind = JSON
        if kind in ENCODERS:
            return ENCODERS[kind](prediction), kind
    raise ModelServerError(406, f"accept {accept!r} is not supported by the default output_fn "
                                f"({JSON}, {CSV}, {NPY}); write output_fn in code/inference.py")


# ---------------------------------------------------------------------------------------------
# user code

def model_dir_from_env(env=None):
    env = os.environ if env is None else env
    if env.get("SAGEMAKER_MODEL_DIR"):
        return env["SAGEMAKER_MODEL_DIR"]
    if env.get("SAGEMAKER_BASE_DIR"):
        return os.path.join(env["SAGEMAKER_BASE_DIR"], "model")
    return "/opt/ml/model"


def _code_dir(model_dir, env):
    submit = env.get("SAGEMAKER_SUBMIT_DIRECTORY")
    if not submit:
        return os.path.join(model_dir, "code"), False
    parsed = urllib.parse.urlparse(submit)
    if parsed.scheme == "file":
        submit = urllib.parse.unquote(parsed.path)
    elif parsed.scheme:
        raise StartupError(f"SAGEMAKER_SUBMIT_DIRECTORY={submit}: only a local folder or a file:// URI is served; "
                           "fetch the code first, or repack it into model.tar.gz under code/")
    if not os.path.isdir(submit):
        raise StartupError(f"SAGEMAKER_SUBMIT_DIRECTORY={env['SAGEMAKER_SUBMIT_DIRECTORY']} is not a folder")
    return submit, True


def _report_requirements(code_dir):
    path = os.path.join(code_dir, "requirements.txt")
    if not os.path.isfile(path):
        return
    with open(path, encoding="utf-8", errors="replace") as f:
        reqs = [ln.strip() for ln in f if ln.strip() and not ln.lstrip().startswith("#")]
    _log(f"found {path}; NOT installed (install them yourself): {', '.join(reqs) or '(empty)'}")


def _import_script(path):
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # so pickles and dataclasses can find it
    spec.loader.exec_module(module)
    return module


def _adapt(fn, arity):
    """``fn`` called with ``arity`` arguments; a function taking one more positional (a context) gets None."""
    try:
        params = [p for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty]
    except (TypeError, ValueError):
        return fn
    if len(params) == arity + 1:
        return lambda *args: fn(*args, None)
    return fn


class Handlers:
    """The model's handlers: the user's where the script defines them, the defaults otherwise."""

    def __init__(self, module=None):
        def pick(name, default, arity):
            fn = getattr(module, name, None) if module is not None else None
            return _adapt(fn, arity) if callable(fn) else default

        self.module = module
        self.model_fn = pick("model_fn", default_model_fn, 1)
        self.input_fn = pick("input_fn", default_input_fn, 2)
        self.predict_fn = pick("predict_fn", default_predict_fn, 2)
        self.output_fn = pick("output_fn", default_output_fn, 2)
        self.transform_fn = pick("transform_fn", None, 4)

    def transform(self, model, body, content_type, accept):
        if self.transform_fn is not None:
            return self.transform_fn(model, body, content_type, accept)
        return self.output_fn(self.predict_fn(self.input_fn(body, content_type), model), accept)


def load_handlers(model_dir, env=None):
    """Imports the user script (if any) and returns its :class:`Handlers`."""
    env = os.environ if env is None else env
    code_dir, explicit = _code_dir(model_dir, env)
    program = env.get("SAGEMAKER_PROGRAM") or "inference.py"
    path = os.path.join(code_dir, program)
    if not os.path.isfile(path) and not program.endswith(".py") and os.path.isfile(path + ".py"):
        path += ".py"
    if os.path.isdir(code_dir):
        _report_requirements(code_dir)
        if code_dir not in sys.path:  # siblings of the script, and classes a pickled model needs
            sys.path.insert(0, code_dir)
    if not os.path.isfile(path):
        if explicit or env.get("SAGEMAKER_PROGRAM"):
            raise StartupError(f"the inference script {path} does not exist")
        return Handlers()
    return Handlers(_import_script(path))


# ---------------------------------------------------------------------------------------------
# HTTP

def _int_env(env, name, default):
    value = env.get(name)
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise StartupError(f"{name}={value!r} is not an integer") from None


class _Service:
    def __init__(self, model, handlers, env):
        self.model = model
        self.handlers = handlers
        self.workers = _int_env(env, "SAGEMAKER_MODEL_SERVER_WORKERS", 0) or None
        self.max_payload_mb = _int_env(env, "SAGEMAKER_MAX_PAYLOAD_IN_MB", 6)
        self.default_accept = env.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT") or JSON
        strategy = env.get("SAGEMAKER_BATCH_STRATEGY", "").upper()
        self.batch_strategy = strategy if strategy in ("SINGLE_RECORD", "MULTI_RECORD") else "MULTI_RECORD"
        self.model_lock = threading.Lock() if _torch_module(model) else None
        self.slots = threading.BoundedSemaphore(self.workers) if self.workers else None
        self.busy = 0
        self.idle = threading.Condition()

    def execution_parameters(self):
        return {"MaxConcurrentTransforms": self.workers or 1, "BatchStrategy": self.batch_strategy,
                "MaxPayloadInMB": self.max_payload_mb}

    def invoke(self, body, content_type, accept):
        """(body bytes, content type) of one invocation; raises what the handlers raise."""
        content_type = content_type or JSON
        if not accept or _media_type(accept) == "*/*":
            accept = self.default_accept
        if self.slots:
            self.slots.acquire()
        try:
            if self.model_lock is not None:
                with self.model_lock:
                    result = self.handlers.transform(self.model, body, content_type, accept)
            else:
                result = self.handlers.transform(self.model, body, content_type, accept)
        finally:
            if self.slots:
                self.slots.release()
        produced = accept
        if isinstance(result, tuple) and len(result) == 2:
            result, produced = result
        if isinstance(result, str):
            result = result.encode("utf-8")
        elif isinstance(result, (bytes, bytearray, memoryview)):
            result = bytes(result)
        else:
            raise TypeError(f"the handlers returned {type(result).__name__}; output_fn/transform_fn must "
                            "return bytes, str or (body, content_type)")
        return result, produced

    def enter(self):
        with self.idle:
            self.busy += 1

    def leave(self):
        with self.idle:
            self.busy -= 1
            self.idle.notify_all()

    def drain(self, timeout):
        with self.idle:
            return self.idle.wait_for(lambda: self.busy == 0, timeout)


class _PayloadTooLarge(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "pipemode-model-server"

    def log_message(self, format, *args):  # quiet: no access log
        pass

    def log_error(self, format, *args):
        sys.stderr.write(f"{PREFIX}: {self.address_string()} {format % args}\n")

    def _reply(self, status, body=b"", content_type="text/plain; charset=utf-8", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _read_body(self, limit):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts, total = [], 0
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";", 1)[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(parts)
                total += size
                if total > limit:
                    raise _PayloadTooLarge()
                parts.append(self.rfile.read(size))
                self.rfile.readline(3)
        length = int(self.headers.get("Content-Length") or 0)
        if length > limit:
            self._discard(length)
            raise _PayloadTooLarge()
        return self.rfile.read(length) if length > 0 else b""

    def _discard(self, length, most=DISCARD_LIMIT):
        """Reads and drops a body (so that the client gets to read the answer) unless it is huge."""
        if length > most:
            return
        while length > 0:
            got = self.rfile.read(min(length, 1 << 20))
            if not got:
                return
            length -= len(got)

    def do_GET(self):
        service = self.server.service
        path = self.path.split("?", 1)[0]
        if path == "/ping":
            self._reply(200, b"")
        elif path == "/execution-parameters":
            self._reply(200, json.dumps(service.execution_parameters()).encode(), JSON)
        elif path == "/invocations":
            self._reply(405, b"use POST /invocations\n", headers=[("Allow", "POST")])
        else:
            self._reply(404, b"not found\n")

    do_HEAD = do_GET

    def do_POST(self):
        service = self.server.service
        if self.path.split("?", 1)[0] != "/invocations":
            self.close_connection = True  # the body was not read
            self._reply(404, b"not found\n")
            return
        service.enter()
        try:
            self._invoke(service)
        finally:
            service.leave()

    def _invoke(self, service):
        try:
            body = self._read_body(service.max_payload_mb * 1024 * 1024)
        except _PayloadTooLarge:
            self.close_connection = True
            self._reply(413, f"PayloadTooLarge: the request is over {service.max_payload_mb} MB "
                             "(SAGEMAKER_MAX_PAYLOAD_IN_MB)\n".encode())
            return
        except ValueError:
            self.close_connection = True
            self._reply(400, b"BadRequest: malformed Content-Length or chunked body\n")
            return
        echo = [(CUSTOM_ATTRIBUTES, self.headers[CUSTOM_ATTRIBUTES])] if CUSTOM_ATTRIBUTES in self.headers else []
        try:
            result, produced = service.invoke(body, self.headers.get("Content-Type"), self.headers.get("Accept"))
        except Exception as e:
            status = getattr(e, "status_code", None)
            if not (isinstance(status, int) and 400 <= status <= 599):
                status = 500
            if status >= 500:
                traceback.print_exc(file=sys.stderr)
                sys.stderr.flush()
            message = " ".join(str(e).split())
            self._reply(status, f"{type(e).__name__}: {message}\n".encode("utf-8", "replace"), headers=echo)
            return
        self._reply(200, result, produced or "application/octet-stream", headers=echo)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # socketserver's 5 resets connections of a burst of clients


def make_server(model, handlers, host="127.0.0.1", port=8080, env=None):
    """A ThreadingHTTPServer serving ``model`` with ``handlers`` (not started)."""
    env = os.environ if env is None else env
    server = _Server((host, port), _Handler)
    server.service = _Service(model, handlers, env)
    return server


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv not in ([], ["serve"]):
        print("usage: python3 -m pipemode.model_server [serve]\n"
              "(configuration comes from SAGEMAKER_* environment variables; see the module doc)", file=sys.stderr)
        return 2
    env = os.environ
    model_dir = model_dir_from_env(env)
    host = env.get("SAGEMAKER_BIND_TO_HOST") or "127.0.0.1"
    try:
        port = _int_env(env, "SAGEMAKER_BIND_TO_PORT", 8080)
        handlers = load_handlers(model_dir, env)
        model = handlers.model_fn(model_dir)
        server = make_server(model, handlers, host, port, env)
    except StartupError as e:
        _log(f"cannot start: {e}")
        return 1
    except BaseException:
        traceback.print_exc(file=sys.stderr)
        _log(f"cannot start: loading the model from {model_dir} failed (traceback above)")
        return 1

    stopping = threading.Event()

    def stop(signum, frame):
        if not stopping.is_set():
            stopping.set()
            # shutdown() waits for serve_forever, which runs in this (the main) thread
            threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    bound_host, bound_port = server.server_address[:2]
    _log(f"serving {model_dir} on {bound_host}:{bound_port}")
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.socket.close()
        if not server.service.drain(SHUTDOWN_GRACE):
            _log(f"stopping with {server.service.busy} request(s) still running after {SHUTDOWN_GRACE:g} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
