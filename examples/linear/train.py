"""A training script written the SageMaker way, for Pipe mode (and File mode).

It reads the "train" channel from SM_CHANNEL_TRAIN (default /opt/ml/input/data/train):
in Pipe mode the epochs arrive as FIFOs <path>_0, <path>_1, ... (wait for each to appear, read
it to EOF); in File mode <path> is a folder of files, read once per epoch. Records are CSV lines
"y,x1,x2". It fits y = w1*x1 + w2*x2 + b by SGD, prints the loss per epoch and writes the model
to SM_MODEL_DIR (when set), with its serving code code/inference.py. Hyperparameters come from SM_HPS (JSON), e.g. {"epochs": 3}.
Standard library only.
"""
import json
import os
import sys
import time

INFERENCE = '''"""Serving code for the linear model (SageMaker framework style: model_fn, transform_fn)."""
import json
import os


def model_fn(model_dir):
    with open(os.path.join(model_dir, "model.json")) as f:
        return json.load(f)


def transform_fn(model, body, content_type, accept):
    """CSV rows "x1,x2" (or "y,x1,x2": the last two fields are used) -> one prediction per row."""
    if isinstance(body, bytes):
        body = body.decode()
    out = []
    for row in body.splitlines():
        if row.strip():
            x1, x2 = (float(v) for v in row.split(",")[-2:])
            out.append("%.4f" % (model["w1"] * x1 + model["w2"] * x2 + model["b"]))
    return "".join(line + "\\n" for line in out), "text/csv"
'''


def lines_of_epoch(channel, epoch, mode):
    if mode == "File":
        for root, _, files in sorted(os.walk(channel)):
            for name in sorted(files):
                with open(os.path.join(root, name), "rb") as f:
                    yield from f
        return
    fifo = f"{channel}_{epoch}"
    while not os.path.exists(fifo):  # the documented protocol: wait for the epoch's FIFO
        time.sleep(0.05)
    with open(fifo, "rb", buffering=1 << 20) as f:
        yield from f  # EOF = end of the epoch

def main():
    channel = os.environ.get("SM_CHANNEL_TRAIN", "/opt/ml/input/data/train")
    hps = json.loads(os.environ.get("SM_HPS", "{}"))
    epochs = int(hps.get("epochs", 3))
    lr = float(hps.get("learning_rate", 0.05))
    mode = "File" if os.path.isdir(channel) else "Pipe"
    w1 = w2 = b = 0.0
    for epoch in range(epochs):
        loss, n = 0.0, 0
        for line in lines_of_epoch(channel, epoch, mode):
            y, x1, x2 = (float(v) for v in line.split(b","))
            err = (w1 * x1 + w2 * x2 + b) - y
            w1 -= lr * err * x1
            w2 -= lr * err * x2
            b -= lr * err
            loss += err * err
            n += 1
        print(f"epoch {epoch}: {n} records, mse {loss / max(n, 1):.5f}, w1={w1:.3f} w2={w2:.3f} b={b:.3f}", flush=True)
    model_dir = os.environ.get("SM_MODEL_DIR")
    if model_dir:
        os.makedirs(model_dir, exist_ok=True)
        with open(os.path.join(model_dir, "model.json"), "w") as f:
            json.dump({"w1": w1, "w2": w2, "b": b}, f)
        # the serving code goes with the model, as SageMaker framework containers expect it
        os.makedirs(os.path.join(model_dir, "code"), exist_ok=True)
        with open(os.path.join(model_dir, "code", "inference.py"), "w") as f:
            f.write(INFERENCE)
    if n == 0:
        sys.exit("no records read")

main()
