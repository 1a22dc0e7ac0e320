"""pipemode.model_server as a real process on a real socket: a TorchScript and a torch.save'd model
served with the default handlers (JSON, CSV, npy; compared with the model run here), a pickled
pure-Python model, custom inference.py handlers, transform_fn, requirements.txt, the error statuses,
a failing model_fn, SIGTERM with a request in flight, and /execution-parameters. The torch tests are
skipped (with the reason) where torch is not importable."""
import http.client
import importlib.util
import io
import json
import os
import pickle
import signal
import socket
import subprocess
import sys
import tarfile
import textwrap
import threading
import time
import unittest

import _support  # noqa: F401  (import path)
from _support import PACKAGE_ROOT, tmpdir

try:
    import torch
    TORCH_ERROR = None
except Exception as e:  # ImportError, or a broken install
    TORCH_ERROR = f"{type(e).__name__}: {e}"
HAVE_NUMPY = importlib.util.find_spec("numpy") is not None
SKIP_TORCH = f"torch is not importable under {sys.executable} ({TORCH_ERROR}); on Debian: apt-get install python3-torch"
START_TIMEOUT = 90  # importing torch can take a while on a cold cache


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(textwrap.dedent(text))


class Server:
    """`python -m pipemode.model_server serve` as a child process; stderr goes to a file."""

    def __init__(self, test, model_dir, env=None, args=("serve",), wait=True, host=None):
        self.test = test
        self.host = host or "127.0.0.1"
        self.port = free_port()
        self.stderr_path = os.path.join(tmpdir(test), "stderr.txt")
        child_env = {k: v for k, v in os.environ.items() if not k.startswith("SAGEMAKER_")}
        if os.environ.get("PIPEMODE_TEST_INSTALLED") != "1":
            child_env["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_ROOT, os.environ.get("PYTHONPATH")) if p)
        child_env.update({"SAGEMAKER_MODEL_DIR": model_dir, "SAGEMAKER_BIND_TO_PORT": str(self.port),
                          "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"})
        child_env.update(env or {})
        if host:
            child_env["SAGEMAKER_BIND_TO_HOST"] = host
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "pipemode.model_server", *args], env=child_env,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._stderr)
        test.addCleanup(self.close)
        if wait:
            self.wait_ready()

    def stderr(self):
        with open(self.stderr_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def ping(self):
        """The /ping status, or None when nothing answers."""
        try:
            return self.request("GET", "/ping", timeout=2)[0]
        except OSError:
            return None

    def wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.test.fail(f"the server exited with {self.proc.returncode}:\n{self.stderr()}")
            if self.ping() == 200:
                return
            time.sleep(0.05)
        self.test.fail(f"/ping did not answer 200 within {START_TIMEOUT} s:\n{self.stderr()}")

    def request(self, method, path, body=None, headers=None, timeout=30):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            conn.close()

    def invoke(self, body, content_type=None, accept=None, **headers):
        h = dict(headers)
        if content_type is not None:
            h["Content-Type"] = content_type
        if accept is not None:
            h["Accept"] = accept
        return self.request("POST", "/invocations", body, h)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._stderr.close()


def assert_close(test, got, want, tol=1e-6):
    test.assertEqual(len(got), len(want), (got, want))
    for g, w in zip(got, want):
        if isinstance(w, list):
            assert_close(test, g, w, tol)
        else:
            test.assertAlmostEqual(g, w, delta=tol)


def pack_and_unpack(test, source):
    """model.tar.gz of `source` (as SageMaker's training writes it), unpacked into a new folder."""
    archive = os.path.join(tmpdir(test), "model.tar.gz")
    with tarfile.open(archive, "w:gz") as tar:
        for name in sorted(os.listdir(source)):
            tar.add(os.path.join(source, name), arcname=name)
    dest = tmpdir(test)
    with tarfile.open(archive, "r:gz") as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, filter="data")
        else:
            tar.extractall(dest)
    return dest


# ---------------------------------------------------------------------------------------------

@unittest.skipIf(TORCH_ERROR is not None, SKIP_TORCH)
class TorchDefaultHandlersTest(unittest.TestCase):
    X = [[1.0, 2.0, 3.0], [0.5, -1.0, 0.25], [-3.0, 0.0, 7.5]]

    def linear(self):
        m = torch.nn.Linear(3, 2)
        with torch.no_grad():
            m.weight.copy_(torch.tensor([[0.5, -0.25, 0.125], [1.5, 2.0, -0.75]]))
            m.bias.copy_(torch.tensor([0.1, -0.2]))
        return m.eval()

    def expected(self, model):
        with torch.no_grad():
            return model(torch.tensor(self.X, dtype=torch.float32)).tolist()

    def check_formats(self, server, want):
        status, headers, body = server.invoke(json.dumps(self.X).encode(), "application/json")
        self.assertEqual(status, 200, body)
        self.assertEqual(headers["content-type"], "application/json")
        assert_close(self, json.loads(body), want)

        csv_in = "".join(",".join(repr(v) for v in row) + "\n" for row in self.X).encode()
        status, headers, body = server.invoke(csv_in, "text/csv", "text/csv")
        self.assertEqual(status, 200, body)
        self.assertEqual(headers["content-type"], "text/csv")
        rows = [[float(c) for c in line.split(",")] for line in body.decode().splitlines()]
        assert_close(self, rows, want)

        import numpy
        buf = io.BytesIO()
        numpy.save(buf, numpy.array(self.X, dtype=numpy.float32))
        status, headers, body = server.invoke(buf.getvalue(), "application/x-npy", "application/x-npy")
        self.assertEqual(status, 200, body)
        self.assertEqual(headers["content-type"], "application/x-npy")
        got = numpy.load(io.BytesIO(body), allow_pickle=False)
        self.assertEqual(got.shape, (3, 2))
        assert_close(self, got.tolist(), want)

        # no Accept, and */*: JSON
        for accept in (None, "*/*"):
            status, headers, body = server.invoke(json.dumps(self.X[:1]).encode(), "application/json", accept)
            self.assertEqual((status, headers["content-type"]), (200, "application/json"))
            assert_close(self, json.loads(body), want[:1])

    def test_torchscript_model_from_model_tar_gz(self):
        model = self.linear()
        source = tmpdir(self)
        torch.jit.save(torch.jit.script(model), os.path.join(source, "model.pt"))
        model_dir = pack_and_unpack(self, source)
        self.assertEqual(os.listdir(model_dir), ["model.pt"])
        server = Server(self, model_dir)
        self.assertIn(f"pipemode model server: serving {model_dir} on 127.0.0.1:{server.port}", server.stderr())
        self.check_formats(server, self.expected(model))
        # the model running in the test gives the same numbers as the file the server loaded
        assert_close(self, self.expected(torch.jit.load(os.path.join(model_dir, "model.pt"))), self.expected(model), 0)

    def test_torch_save_module_falls_back_to_torch_load(self):
        model = self.linear()
        source = tmpdir(self)
        torch.save(model, os.path.join(source, "model.pth"))
        server = Server(self, pack_and_unpack(self, source))
        self.check_formats(server, self.expected(model))

    def test_concurrent_requests(self):
        model = self.linear()
        source = tmpdir(self)
        torch.jit.save(torch.jit.script(model), os.path.join(source, "model.pt"))
        server = Server(self, source)
        want = self.expected(model)
        results = []

        def call():
            try:
                results.append(server.invoke(json.dumps(self.X).encode(), "application/json"))
            except Exception as e:  # reported by the assertions below
                results.append((type(e).__name__, str(e), b""))

        threads = [threading.Thread(target=call) for _ in range(32)]  # more than a listen backlog of 5
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(len(results), 32)
        for status, _, body in sorted(results, key=str):
            self.assertEqual(status, 200, body)
            assert_close(self, json.loads(body), want)


# ---------------------------------------------------------------------------------------------

MODEL_CLASS = """
class Doubler:
    def predict(self, rows):
        return [[2 * v for v in row] for row in rows]
"""


class PickledModelTest(unittest.TestCase):
    """Default model_fn with model.pkl (pickle; joblib where importable); the class lives in code/."""

    def setUp(self):
        self.model_dir = tmpdir(self)
        write(os.path.join(self.model_dir, "code", "doubler_model.py"), MODEL_CLASS)
        sys.path.insert(0, os.path.join(self.model_dir, "code"))
        try:
            import doubler_model
            with open(os.path.join(self.model_dir, "model.pkl"), "wb") as f:
                pickle.dump(doubler_model.Doubler(), f)
        finally:
            sys.path.pop(0)
            sys.modules.pop("doubler_model", None)
        self.server = Server(self, self.model_dir, args=())  # no `serve` argument: also fine

    def test_default_handlers_json_and_csv(self):
        status, headers, body = self.server.invoke(b"[[1, 2.5], [3, 4]]", "application/json")
        self.assertEqual((status, headers["content-type"]), (200, "application/json"), body)
        self.assertEqual(json.loads(body), [[2, 5.0], [6, 8]])
        status, headers, body = self.server.invoke(b"1,2\n3,x\n", "text/csv; charset=utf-8", "text/csv")
        self.assertEqual((status, headers["content-type"]), (200, "text/csv"), body)
        self.assertEqual(body, b"2.0,4.0\n6.0,xx\n")  # non-numeric cells stay strings
        # the first supported type of an Accept list wins
        status, headers, body = self.server.invoke(b"[[1]]", "application/json", "image/png, text/csv;q=0.9")
        self.assertEqual((status, headers["content-type"], body), (200, "text/csv", b"2\n"))

    def test_errors_415_406_and_still_healthy(self):
        status, headers, body = self.server.invoke(b"\x00\x01", "application/x-unknown")
        self.assertEqual(status, 415, body)
        self.assertIn(b"application/x-unknown", body)
        self.assertTrue(headers["content-type"].startswith("text/plain"))
        status, _, body = self.server.invoke(b"[[1]]", "application/json", "image/png")
        self.assertEqual(status, 406, body)
        self.assertIn(b"image/png", body)
        if not HAVE_NUMPY:
            status, _, body = self.server.invoke(b"\x93NUMPY", "application/x-npy")
            self.assertEqual(status, 415, body)
            self.assertIn(b"numpy", body)
        status, _, body = self.server.invoke(b"[[1", "application/json")  # bad JSON: the handler raises
        self.assertEqual(status, 500, body)
        self.assertTrue(body.startswith(b"JSONDecodeError: "), body)
        self.assertEqual(self.server.ping(), 200)
        self.assertEqual(self.server.invoke(b"[[21]]", "application/json")[2], b"[[42]]")

    def test_http_details(self):
        self.assertEqual(self.server.request("GET", "/nope")[0], 404)
        self.assertEqual(self.server.request("GET", "/invocations")[0], 405)
        # chunked request body
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
        conn.putrequest("POST", "/invocations")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        for piece in (b"[[1,", b" 2], [3", b", 4]]"):
            conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
        conn.send(b"0\r\n\r\n")
        r = conn.getresponse()
        self.assertEqual((r.status, r.read()), (200, b"[[2, 4], [6, 8]]"))
        # keep-alive: a second request on the same connection
        conn.request("POST", "/invocations", b"[[5]]", {"Content-Type": "application/json"})
        r = conn.getresponse()
        self.assertEqual((r.status, r.read()), (200, b"[[10]]"))
        conn.close()
        # over SAGEMAKER_MAX_PAYLOAD_IN_MB (6)
        status, _, body = self.server.invoke(b"[" + b"1," * (3 << 20) + b"1]", "application/json")
        self.assertEqual(status, 413, body)
        self.assertEqual(self.server.ping(), 200)


# ---------------------------------------------------------------------------------------------

CUSTOM = """
import json
import helper  # a sibling module in code/

LOADS = []

def model_fn(model_dir):
    LOADS.append(model_dir)
    with open(model_dir + "/params.json") as f:
        return json.load(f)

def input_fn(request_body, request_content_type):
    if request_content_type != "application/x-numbers":
        raise ValueError("unexpected content type " + request_content_type)
    assert isinstance(request_body, bytes), type(request_body)
    return [float(x) for x in request_body.split()]

def predict_fn(input_data, model):
    if input_data == [13.0]:
        raise ValueError("thirteen is not allowed")
    return {"scaled": [helper.scale(x, model["factor"]) for x in input_data], "loads": len(LOADS)}

def output_fn(prediction, accept):
    if accept == "application/x-scaled":
        return " ".join(repr(v) for v in prediction["scaled"]) + " loads=%d" % prediction["loads"]
    return json.dumps(prediction).encode(), "application/vnd.scaled+json"
"""


class CustomHandlersTest(unittest.TestCase):
    def setUp(self):
        self.model_dir = tmpdir(self)
        write(os.path.join(self.model_dir, "params.json"), '{"factor": 3}')
        write(os.path.join(self.model_dir, "code", "inference.py"), CUSTOM)
        write(os.path.join(self.model_dir, "code", "helper.py"), "def scale(x, f):\n    return x * f\n")
        self.server = Server(self, self.model_dir)

    def test_custom_types_round_trip_and_custom_attributes(self):
        for _ in range(3):
            status, headers, body = self.server.invoke(b"1 2.5 -4", "application/x-numbers", "application/x-scaled",
                                                       **{"X-Amzn-SageMaker-Custom-Attributes": "trace=abc;k=v"})
            self.assertEqual(status, 200, body)
            self.assertEqual(headers["content-type"], "application/x-scaled")  # output_fn returned str: the accept
            self.assertEqual(body, b"3.0 7.5 -12.0 loads=1")  # model_fn ran once
            self.assertEqual(headers["x-amzn-sagemaker-custom-attributes"], "trace=abc;k=v")
        status, headers, body = self.server.invoke(b"2", "application/x-numbers")
        self.assertEqual((status, headers["content-type"]), (200, "application/vnd.scaled+json"))  # tuple
        self.assertEqual(json.loads(body), {"scaled": [6.0], "loads": 1})
        self.assertNotIn("x-amzn-sagemaker-custom-attributes", headers)

    def test_handler_exception_is_500_and_server_stays_healthy(self):
        status, headers, body = self.server.invoke(b"13", "application/x-numbers", "application/x-scaled",
                                                   **{"X-Amzn-SageMaker-Custom-Attributes": "a=1"})
        self.assertEqual(status, 500)
        self.assertEqual(body, b"ValueError: thirteen is not allowed\n")
        self.assertEqual(headers["x-amzn-sagemaker-custom-attributes"], "a=1")
        self.assertNotIn("Traceback", body.decode())
        self.assertIn("Traceback", self.server.stderr())
        self.assertIn("ValueError: thirteen is not allowed", self.server.stderr())
        self.assertEqual(self.server.ping(), 200)
        self.assertEqual(self.server.invoke(b"1", "application/x-numbers", "application/x-scaled")[2], b"3.0 loads=1")
        status, _, body = self.server.invoke(b"1", "text/csv")
        self.assertEqual((status, body), (500, b"ValueError: unexpected content type text/csv\n"))

    def test_quiet_stderr(self):
        self.server.invoke(b"1", "application/x-numbers")
        lines = self.server.stderr().splitlines()
        self.assertEqual(lines, [f"pipemode model server: serving {self.model_dir} on 127.0.0.1:{self.server.port}"])


class ProgramLocationTest(unittest.TestCase):
    def test_sagemaker_program_and_file_uri_submit_directory(self):
        model_dir = tmpdir(self)
        write(os.path.join(model_dir, "code", "inference.py"), "raise SystemExit('the default script must not run')\n")
        code = tmpdir(self)
        write(os.path.join(code, "serve_me.py"), """
            def model_fn(model_dir, context):  # the toolkit's variant with a context
                return {"dir": model_dir, "context": context}

            def transform_fn(model, body, content_type, accept):
                return model["dir"] + "|" + str(model["context"]) + "|" + body.decode()
            """)
        server = Server(self, model_dir, env={"SAGEMAKER_PROGRAM": "serve_me.py",
                                              "SAGEMAKER_SUBMIT_DIRECTORY": "file://" + code})
        status, headers, body = server.invoke(b"hi", "text/plain", "text/plain")
        self.assertEqual((status, headers["content-type"], body.decode()), (200, "text/plain", f"{model_dir}|None|hi"))

    def test_base_dir(self):
        base = tmpdir(self)
        write(os.path.join(base, "model", "code", "inference.py"), """
            def model_fn(model_dir):
                return model_dir
            def transform_fn(model, body, content_type, accept):
                return model
            """)
        server = Server(self, "", env={"SAGEMAKER_BASE_DIR": base})
        self.assertEqual(server.invoke(b"", "x/y", "text/plain")[2].decode(), os.path.join(base, "model"))


TRANSFORM = """
def model_fn(model_dir):
    return "m"

def input_fn(body, content_type):
    raise AssertionError("input_fn must not run when transform_fn exists")

def predict_fn(data, model):
    raise AssertionError("predict_fn must not run when transform_fn exists")

def output_fn(prediction, accept):
    raise AssertionError("output_fn must not run when transform_fn exists")

def transform_fn(model, request_body, content_type, accept):
    text = "%s:%s:%s:%s" % (model, request_body.decode(), content_type, accept)
    if accept == "application/x-tuple":
        return text.encode(), "application/x-chosen-by-transform"
    return text
"""


class TransformFnTest(unittest.TestCase):
    def setUp(self):
        self.model_dir = tmpdir(self)
        write(os.path.join(self.model_dir, "code", "inference.py"), TRANSFORM)
        self.server = Server(self, self.model_dir)

    def test_precedence_and_content_types(self):
        status, headers, body = self.server.invoke(b"abc", "text/x-in", "application/x-tuple")
        self.assertEqual((status, headers["content-type"], body),
                         (200, "application/x-chosen-by-transform", b"m:abc:text/x-in:application/x-tuple"))
        status, headers, body = self.server.invoke(b"abc", "text/x-in", "text/x-out")
        self.assertEqual((status, headers["content-type"], body), (200, "text/x-out", b"m:abc:text/x-in:text/x-out"))
        # no Content-Type and no Accept: application/json for both
        status, headers, body = self.server.invoke(b"abc")
        self.assertEqual((status, headers["content-type"], body),
                         (200, "application/json", b"m:abc:application/json:application/json"))


class RequirementsTest(unittest.TestCase):
    def test_reported_and_not_installed(self):
        model_dir = tmpdir(self)
        write(os.path.join(model_dir, "code", "requirements.txt"),
              "# pinned\npipemode-test-not-a-package==9.9.9\n\nanother_fake_pkg>=1\n")
        write(os.path.join(model_dir, "code", "inference.py"), """
            import importlib.util
            def model_fn(model_dir):
                return None
            def transform_fn(model, body, content_type, accept):
                found = [importlib.util.find_spec(n) is not None for n in ("pipemode_test_not_a_package", "another_fake_pkg")]
                return repr(found)
            """)
        server = Server(self, model_dir)
        lines = [ln for ln in server.stderr().splitlines() if "requirements.txt" in ln]
        self.assertEqual(len(lines), 1, server.stderr())
        self.assertIn(os.path.join(model_dir, "code", "requirements.txt"), lines[0])
        self.assertIn("NOT installed", lines[0])
        self.assertIn("pipemode-test-not-a-package==9.9.9, another_fake_pkg>=1", lines[0])
        self.assertEqual(server.invoke(b"", "a/b", "text/plain")[2], b"[False, False]")


class StartupFailureTest(unittest.TestCase):
    def run_failing(self, model_dir, env=None):
        server = Server(self, model_dir, env=env, wait=False)
        deadline = time.monotonic() + START_TIMEOUT
        while server.proc.poll() is None and time.monotonic() < deadline:
            self.assertIsNone(server.ping(), "/ping must never answer")
            time.sleep(0.02)
        self.assertIsNotNone(server.proc.poll(), "the server did not exit")
        self.assertNotEqual(server.proc.returncode, 0)
        self.assertIsNone(server.ping())
        return server.stderr()

    def test_model_fn_raising(self):
        model_dir = tmpdir(self)
        write(os.path.join(model_dir, "code", "inference.py"), """
            import time
            def model_fn(model_dir):
                time.sleep(0.3)
                raise RuntimeError("weights are corrupt")
            """)
        err = self.run_failing(model_dir)
        self.assertIn("Traceback (most recent call last)", err)
        self.assertIn("RuntimeError: weights are corrupt", err)
        self.assertIn(model_dir, err)

    def test_no_model_names_the_dir(self):
        model_dir = tmpdir(self)
        write(os.path.join(model_dir, "notes.txt"), "x")
        err = self.run_failing(model_dir)
        self.assertIn(f"no model to load in {model_dir}", err)
        self.assertIn("*.pt/*.pth", err)
        self.assertIn("notes.txt", err)

    def test_missing_program(self):
        err = self.run_failing(tmpdir(self), env={"SAGEMAKER_PROGRAM": "nope.py"})
        self.assertIn("nope.py does not exist", err)

    def test_s3_submit_directory_is_refused(self):
        err = self.run_failing(tmpdir(self), env={"SAGEMAKER_SUBMIT_DIRECTORY": "s3://bucket/sourcedir.tar.gz"})
        self.assertIn("only a local folder or a file:// URI", err)


SLOW = """
import time
def model_fn(model_dir):
    return None
def transform_fn(model, body, content_type, accept):
    time.sleep(float(body or 0))
    return "done after " + body.decode()
"""


class LifecycleTest(unittest.TestCase):
    def setUp(self):
        self.model_dir = tmpdir(self)
        write(os.path.join(self.model_dir, "code", "inference.py"), SLOW)

    def test_sigterm_idle_exits_0_promptly(self):
        server = Server(self, self.model_dir)
        started = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        self.assertEqual(server.proc.wait(10), 0, server.stderr())
        self.assertLess(time.monotonic() - started, 5)
        self.assertIsNone(server.ping())

    def test_sigterm_lets_the_request_in_flight_finish(self):
        server = Server(self, self.model_dir)
        result = []
        t = threading.Thread(target=lambda: result.append(server.invoke(b"1.0", "text/plain", "text/plain")))
        t.start()
        time.sleep(0.3)
        server.proc.send_signal(signal.SIGTERM)
        t.join(20)
        self.assertEqual(server.proc.wait(20), 0, server.stderr())
        self.assertEqual([(s, b) for s, _, b in result], [(200, b"done after 1.0")])

    def test_execution_parameters(self):
        server = Server(self, self.model_dir)
        status, headers, body = server.request("GET", "/execution-parameters")
        self.assertEqual((status, headers["content-type"]), (200, "application/json"))
        self.assertEqual(json.loads(body), {"MaxConcurrentTransforms": 1, "BatchStrategy": "MULTI_RECORD",
                                            "MaxPayloadInMB": 6})

    def test_execution_parameters_from_env_and_workers_bound(self):
        server = Server(self, self.model_dir, env={"SAGEMAKER_MODEL_SERVER_WORKERS": "2",
                                                   "SAGEMAKER_MAX_PAYLOAD_IN_MB": "20",
                                                   "SAGEMAKER_BATCH_STRATEGY": "SINGLE_RECORD"})
        self.assertEqual(json.loads(server.request("GET", "/execution-parameters")[2]),
                         {"MaxConcurrentTransforms": 2, "BatchStrategy": "SINGLE_RECORD", "MaxPayloadInMB": 20})
        # 4 requests of 0.5 s with 2 workers take about 1 s, not 0.5 s
        started = time.monotonic()
        threads = [threading.Thread(target=server.invoke, args=(b"0.5", "text/plain")) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        self.assertGreaterEqual(time.monotonic() - started, 0.95)

    def test_bind_host(self):
        server = Server(self, self.model_dir, host="127.0.0.2")  # Linux routes all of 127/8 to lo
        self.assertIn(f"on 127.0.0.2:{server.port}", server.stderr())
        server.host = "127.0.0.1"
        self.assertIsNone(server.ping(), "bound to 127.0.0.2 only")


if __name__ == "__main__":
    unittest.main()
