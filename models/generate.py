#!/usr/bin/env python3
"""Rebuilds the sample model repository in this folder, deterministically.

Needs Debian 12's python3-torch (1.13) and python3-onnx (1.12), and python3-sentencepiece (0.1.97)
for the embedder's SentencePiece model:
    apt-get install python3-torch python3-onnx python3-sentencepiece
    /usr/bin/python3 models/generate.py   # Debian's interpreter, where apt installs torch and onnx
    /usr/bin/python3 models/generate.py --resnet50 [REPOSITORY]   # also python3-torchvision;
        # ResNet-50 with random weights (100 MB, not committed), by default in artifacts/models

For every model it writes config.pbtxt, the model file under version 1, and
samples.json: request inputs with the outputs expected for them. The expected
outputs are computed here, in Python (NumPy / PyTorch), never by Fabrik or by
ONNX Runtime, so the tests compare the server against an independent reference.

torch.jit.script needs the module's source in a file, which is why the network
is defined here rather than passed in on stdin.
"""

import json
import os
import shutil
import sys
from typing import Tuple

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper

HERE = os.path.dirname(os.path.abspath(__file__))
OPSET = 17
SEED = 20261125


class Mlp(torch.nn.Module):
    """A small classifier: 16 features -> 32 hidden (ReLU) -> 4 classes (softmax)."""

    def __init__(self):
        super().__init__()
        self.hidden = torch.nn.Linear(16, 32)
        self.output = torch.nn.Linear(32, 4)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.output(torch.relu(self.hidden(features))), dim=1)


class Cnn(torch.nn.Module):
    """A compute-bound image classifier: 3x64x64 -> 10 logits, about 0.7 GFLOP per image, with
    under 0.5 MB of weights. It lets the serving overhead be judged against real compute."""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 64, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(64, 64, 3, padding=1)
        self.conv3 = torch.nn.Conv2d(64, 64, 3, padding=1)
        self.conv4 = torch.nn.Conv2d(64, 64, 3, padding=1)
        self.classifier = torch.nn.Linear(64, 10)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv1(images))
        x = torch.relu(self.conv2(x))
        x = torch.relu(self.conv3(x))
        x = torch.nn.functional.max_pool2d(x, 2)
        x = torch.relu(self.conv4(x))
        x = torch.mean(x, dim=(2, 3))
        return self.classifier(x)


class Accumulator(torch.nn.Module):
    """The TorchScript accumulator: the running sum is the state, given back as the next input."""

    def forward(self, value: torch.Tensor, accumulator: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        total = accumulator + value
        return total, total


class Encoder(torch.nn.Module):
    """A small BERT-style encoder: token, position and segment embeddings, then two layers of
    masked self-attention and a feed-forward block, each with a residual connection and layer
    normalisation. Written out by hand (not torch.nn.TransformerEncoder) so that the export is
    plain ONNX operators. Padding positions (attention_mask 0) are masked out of every attention,
    so a row's outputs do not depend on how far it is padded."""

    def __init__(self, vocabulary, hidden=32, heads=4, layers=2, positions=512):
        super().__init__()
        self.heads = heads
        self.tokens = torch.nn.Embedding(vocabulary, hidden)
        self.positions = torch.nn.Embedding(positions, hidden)
        self.segments = torch.nn.Embedding(2, hidden)
        self.norm = torch.nn.LayerNorm(hidden)
        self.attention = torch.nn.ModuleList([torch.nn.Linear(hidden, 3 * hidden) for _ in range(layers)])
        self.projection = torch.nn.ModuleList([torch.nn.Linear(hidden, hidden) for _ in range(layers)])
        self.attention_norm = torch.nn.ModuleList([torch.nn.LayerNorm(hidden) for _ in range(layers)])
        self.feed_forward = torch.nn.ModuleList([
            torch.nn.Sequential(torch.nn.Linear(hidden, 2 * hidden), torch.nn.GELU(), torch.nn.Linear(2 * hidden, hidden))
            for _ in range(layers)])
        self.output_norm = torch.nn.ModuleList([torch.nn.LayerNorm(hidden) for _ in range(layers)])

    def forward(self, input_ids, attention_mask, token_type_ids):
        batch, length = input_ids.shape
        position_ids = torch.arange(length, dtype=torch.int64).unsqueeze(0)
        x = self.norm(self.tokens(input_ids) + self.positions(position_ids) + self.segments(token_type_ids))
        hidden = x.shape[-1]
        size = hidden // self.heads
        # -10000 where the key is padding: exp() of it is exactly 0 in float32.
        bias = (1.0 - attention_mask.to(torch.float32)).unsqueeze(1).unsqueeze(2) * -10000.0
        for attention, projection, attention_norm, feed_forward, output_norm in zip(
                self.attention, self.projection, self.attention_norm, self.feed_forward, self.output_norm):
            q, k, v = attention(x).split(hidden, dim=-1)
            q = q.reshape(batch, length, self.heads, size).transpose(1, 2)
            k = k.reshape(batch, length, self.heads, size).transpose(1, 2)
            v = v.reshape(batch, length, self.heads, size).transpose(1, 2)
            scores = torch.matmul(q, k.transpose(2, 3)) / (size ** 0.5) + bias
            context = torch.matmul(torch.softmax(scores, dim=-1), v).transpose(1, 2).reshape(batch, length, hidden)
            x = attention_norm(x + projection(context))
            x = output_norm(x + feed_forward(x))
        return x


def model_dir(name):
    path = os.path.join(HERE, name)
    if os.path.isdir(path):
        shutil.rmtree(path)
    os.makedirs(os.path.join(path, "1"))
    return path


def write_text(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def write_samples(path, model, samples):
    document = {
        "model": model,
        "generator": "models/generate.py",
        "samples": samples,
    }
    write_text(os.path.join(path, "samples.json"), json.dumps(document, indent=1) + "\n")


def tensor_json(name, datatype, array, nested=False):
    """A KServe v2 JSON tensor. FP32 values are written as the exact doubles of the float32s."""
    if datatype == "BYTES":
        data = [s.decode("utf-8") if isinstance(s, bytes) else s for s in array.reshape(-1).tolist()]
        if nested:
            data = np.array(data, dtype=object).reshape(array.shape).tolist()
    else:
        data = array.tolist() if nested else array.reshape(-1).tolist()
    return {"name": name, "datatype": datatype, "shape": list(array.shape), "data": data}


def save_onnx(graph, path):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="fabrik-generate")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


def generate_simple(rng):
    """Triton's classic `simple`: OUTPUT0 = INPUT0 + INPUT1, OUTPUT1 = INPUT0 - INPUT1 (INT32 [16])."""
    path = model_dir("simple")
    dims = ["batch", 16]
    graph = helper.make_graph(
        [helper.make_node("Add", ["INPUT0", "INPUT1"], ["OUTPUT0"]),
         helper.make_node("Sub", ["INPUT0", "INPUT1"], ["OUTPUT1"])],
        "simple",
        [helper.make_tensor_value_info("INPUT0", TensorProto.INT32, dims),
         helper.make_tensor_value_info("INPUT1", TensorProto.INT32, dims)],
        [helper.make_tensor_value_info("OUTPUT0", TensorProto.INT32, dims),
         helper.make_tensor_value_info("OUTPUT1", TensorProto.INT32, dims)])
    save_onnx(graph, os.path.join(path, "1", "model.onnx"))
    write_text(os.path.join(path, "config.pbtxt"), """name: "simple"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [
  {
    name: "INPUT0"
    data_type: TYPE_INT32
    dims: [ 16 ]
  },
  {
    name: "INPUT1"
    data_type: TYPE_INT32
    dims: [ 16 ]
  }
]
output [
  {
    name: "OUTPUT0"
    data_type: TYPE_INT32
    dims: [ 16 ]
  },
  {
    name: "OUTPUT1"
    data_type: TYPE_INT32
    dims: [ 16 ]
  }
]
""")
    samples = []
    # The pair Triton's own example clients send: 0..15 and all ones.
    pairs = [(np.arange(16, dtype=np.int32).reshape(1, 16), np.ones((1, 16), dtype=np.int32), False)]
    for batch, nested in ((3, True), (8, False)):
        a = rng.integers(-1_000_000, 1_000_000, size=(batch, 16), dtype=np.int32)
        b = rng.integers(-1_000_000, 1_000_000, size=(batch, 16), dtype=np.int32)
        pairs.append((a, b, nested))
    for a, b, nested in pairs:
        total = (a.astype(np.int64) + b).astype(np.int32)
        difference = (a.astype(np.int64) - b).astype(np.int32)
        samples.append({
            "inputs": [tensor_json("INPUT0", "INT32", a, nested), tensor_json("INPUT1", "INT32", b, nested)],
            "outputs": [tensor_json("OUTPUT0", "INT32", total), tensor_json("OUTPUT1", "INT32", difference)],
            "tolerance": 0,
        })
    write_samples(path, "simple", samples)


def generate_mlp(rng):
    """`mlp` (ONNX) and `mlp_torch` (TorchScript): the same network and the same weights."""
    torch.manual_seed(SEED)
    network = Mlp().eval()

    onnx_path = model_dir("mlp")
    example = torch.zeros(1, 16)
    torch.onnx.export(network, example, os.path.join(onnx_path, "1", "model.onnx"),
                      input_names=["INPUT0"], output_names=["OUTPUT0"],
                      dynamic_axes={"INPUT0": {0: "batch"}, "OUTPUT0": {0: "batch"}},
                      opset_version=OPSET, do_constant_folding=True)
    write_text(os.path.join(onnx_path, "config.pbtxt"), """name: "mlp"
platform: "onnxruntime_onnx"
max_batch_size: 32
input [
  {
    name: "INPUT0"
    data_type: TYPE_FP32
    dims: [ 16 ]
  }
]
output [
  {
    name: "OUTPUT0"
    data_type: TYPE_FP32
    dims: [ 4 ]
  }
]
""")

    torch_path = model_dir("mlp_torch")
    torch.jit.script(network).save(os.path.join(torch_path, "1", "model.pt"))
    write_text(os.path.join(torch_path, "config.pbtxt"), """name: "mlp_torch"
platform: "pytorch_libtorch"
max_batch_size: 32
input [
  {
    name: "INPUT__0"
    data_type: TYPE_FP32
    dims: [ 16 ]
  }
]
output [
  {
    name: "OUTPUT__0"
    data_type: TYPE_FP32
    dims: [ 4 ]
  }
]
""")

    onnx_samples, torch_samples = [], []
    for batch, nested in ((1, False), (4, True), (32, False)):
        features = rng.standard_normal((batch, 16)).astype(np.float32)
        with torch.no_grad():
            probabilities = network(torch.from_numpy(features)).numpy()
        for samples, input_name, output_name in ((onnx_samples, "INPUT0", "OUTPUT0"),
                                                 (torch_samples, "INPUT__0", "OUTPUT__0")):
            samples.append({
                "inputs": [tensor_json(input_name, "FP32", features, nested)],
                "outputs": [tensor_json(output_name, "FP32", probabilities)],
                "tolerance": 1e-5,
            })
    write_samples(onnx_path, "mlp", onnx_samples)
    write_samples(torch_path, "mlp_torch", torch_samples)


def generate_cnn(rng):
    """`cnn` (ONNX): FP32 [-1,3,64,64] -> logits [-1,10], batchable up to 8."""
    torch.manual_seed(SEED + 1)
    network = Cnn().eval()
    path = model_dir("cnn")
    torch.onnx.export(network, torch.zeros(1, 3, 64, 64), os.path.join(path, "1", "model.onnx"),
                      input_names=["INPUT0"], output_names=["OUTPUT0"],
                      dynamic_axes={"INPUT0": {0: "batch"}, "OUTPUT0": {0: "batch"}},
                      opset_version=OPSET, do_constant_folding=True)
    write_text(os.path.join(path, "config.pbtxt"), """name: "cnn"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [
  {
    name: "INPUT0"
    data_type: TYPE_FP32
    dims: [ 3, 64, 64 ]
  }
]
output [
  {
    name: "OUTPUT0"
    data_type: TYPE_FP32
    dims: [ 10 ]
  }
]
""")
    images = rng.standard_normal((1, 3, 64, 64)).astype(np.float32)
    with torch.no_grad():
        logits = network(torch.from_numpy(images)).numpy()
    write_samples(path, "cnn", [{
        "inputs": [tensor_json("INPUT0", "FP32", images)],
        "outputs": [tensor_json("OUTPUT0", "FP32", logits)],
        "tolerance": 1e-4,
    }])


def generate_strings(rng):
    """`strings`: BYTES in and out. INPUT0/INPUT1 hold decimal integers as text (Triton's
    simple_string); OUTPUT0 is their sum and OUTPUT1 their difference, again as text."""
    path = model_dir("strings")
    dims = ["batch", 16]
    graph = helper.make_graph(
        [helper.make_node("Cast", ["INPUT0"], ["a"], to=TensorProto.INT32),
         helper.make_node("Cast", ["INPUT1"], ["b"], to=TensorProto.INT32),
         helper.make_node("Add", ["a", "b"], ["sum"]),
         helper.make_node("Sub", ["a", "b"], ["difference"]),
         helper.make_node("Cast", ["sum"], ["OUTPUT0"], to=TensorProto.STRING),
         helper.make_node("Cast", ["difference"], ["OUTPUT1"], to=TensorProto.STRING)],
        "strings",
        [helper.make_tensor_value_info("INPUT0", TensorProto.STRING, dims),
         helper.make_tensor_value_info("INPUT1", TensorProto.STRING, dims)],
        [helper.make_tensor_value_info("OUTPUT0", TensorProto.STRING, dims),
         helper.make_tensor_value_info("OUTPUT1", TensorProto.STRING, dims)])
    save_onnx(graph, os.path.join(path, "1", "model.onnx"))
    write_text(os.path.join(path, "config.pbtxt"), """name: "strings"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [
  {
    name: "INPUT0"
    data_type: TYPE_STRING
    dims: [ 16 ]
  },
  {
    name: "INPUT1"
    data_type: TYPE_STRING
    dims: [ 16 ]
  }
]
output [
  {
    name: "OUTPUT0"
    data_type: TYPE_STRING
    dims: [ 16 ]
  },
  {
    name: "OUTPUT1"
    data_type: TYPE_STRING
    dims: [ 16 ]
  }
]
""")
    samples = []
    for batch, nested in ((1, False), (2, True)):
        a = rng.integers(-100_000, 100_000, size=(batch, 16))
        b = rng.integers(-100_000, 100_000, size=(batch, 16))
        as_text = np.vectorize(lambda v: str(int(v)), otypes=[object])
        samples.append({
            "inputs": [tensor_json("INPUT0", "BYTES", as_text(a), nested),
                       tensor_json("INPUT1", "BYTES", as_text(b), nested)],
            "outputs": [tensor_json("OUTPUT0", "BYTES", as_text(a + b)),
                        tensor_json("OUTPUT1", "BYTES", as_text(a - b))],
            "tolerance": 0,
        })
    write_samples(path, "strings", samples)


# (wire name, ONNX element type, config name, sample values). The values sit at the edges of each
# type's range and are exactly representable in it, so a round trip must return them bit-exactly.
IDENTITY_TYPES = [
    ("BOOL", TensorProto.BOOL, "TYPE_BOOL", [True, False, True]),
    ("UINT8", TensorProto.UINT8, "TYPE_UINT8", [0, 255, 7]),
    ("UINT16", TensorProto.UINT16, "TYPE_UINT16", [0, 65535, 1234]),
    ("UINT32", TensorProto.UINT32, "TYPE_UINT32", [0, 4294967295, 123456]),
    ("UINT64", TensorProto.UINT64, "TYPE_UINT64", [0, 18446744073709551615, 9007199254740993]),
    ("INT8", TensorProto.INT8, "TYPE_INT8", [-128, 127, 0]),
    ("INT16", TensorProto.INT16, "TYPE_INT16", [-32768, 32767, -1]),
    ("INT32", TensorProto.INT32, "TYPE_INT32", [-2147483648, 2147483647, 42]),
    ("INT64", TensorProto.INT64, "TYPE_INT64", [-9223372036854775808, 9223372036854775807, -9007199254740993]),
    ("FP16", TensorProto.FLOAT16, "TYPE_FP16", [1.5, -65504.0, 0.0009765625]),
    ("BF16", TensorProto.BFLOAT16, "TYPE_BF16", [1.0, -2.5, 3.140625]),
    ("FP32", TensorProto.FLOAT, "TYPE_FP32", [1.5, -3.4028234663852886e38, 1.401298464324817e-45]),
    ("FP64", TensorProto.DOUBLE, "TYPE_FP64", [0.1, -1.7976931348623157e308, 5e-324]),
    ("BYTES", TensorProto.STRING, "TYPE_STRING", ["hello", "", "\u00fcn\u00efc\u00f6d\u00e9 \u2713"]),
]


def generate_identity():
    """`identity`: one Identity node per datatype (INPUT_<TYPE> -> OUTPUT_<TYPE>, dims [-1]),
    no batching. It lets every datatype travel through the server and back."""
    path = model_dir("identity")
    nodes, inputs, outputs, config = [], [], [], ['name: "identity"', 'platform: "onnxruntime_onnx"', "max_batch_size: 0"]
    for wire, onnx_type, config_type, _ in IDENTITY_TYPES:
        nodes.append(helper.make_node("Identity", [f"INPUT_{wire}"], [f"OUTPUT_{wire}"]))
        inputs.append(helper.make_tensor_value_info(f"INPUT_{wire}", onnx_type, ["n"]))
        outputs.append(helper.make_tensor_value_info(f"OUTPUT_{wire}", onnx_type, ["n"]))
        config.append(f'input {{ name: "INPUT_{wire}" data_type: {config_type} dims: [ -1 ] }}')
        config.append(f'output {{ name: "OUTPUT_{wire}" data_type: {config_type} dims: [ -1 ] }}')
    save_onnx(helper.make_graph(nodes, "identity", inputs, outputs), os.path.join(path, "1", "model.onnx"))
    write_text(os.path.join(path, "config.pbtxt"), "\n".join(config) + "\n")
    request_inputs, expected_outputs = [], []
    for wire, _, _, values in IDENTITY_TYPES:
        tensor = {"datatype": wire, "shape": [len(values)], "data": values}
        request_inputs.append({"name": f"INPUT_{wire}", **tensor})
        expected_outputs.append({"name": f"OUTPUT_{wire}", **tensor})
    write_samples(path, "identity", [{"inputs": request_inputs, "outputs": expected_outputs, "tolerance": 0}])


# The sample embedding model's vocabulary: BERT's special tokens, then single characters, common
# English words and word pieces ("##" continues a word), in a fixed order (a token's id is its line).
EMBEDDER_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
EMBEDDER_WORDS = """the of and to in is was for on that with as by it at from his he an be are or
which this also had first not but were have one their new after has who they two her she been other
when there all during into school time may years more most only over city some world would where later
up such used many can state about national out known university united then made these high small
large model models server serving inference search query document documents text embedding embeddings
vector vectors retrieval question answer data batch token tokens fast slow quick brown fox jumps lazy dog
hello world cat cats play played playing run running runs good bad day night open source language""".split()
EMBEDDER_PIECES = ["ed", "ing", "er", "ly", "es", "ion", "al", "en", "ity"]


def embedder_vocabulary():
    characters = list("abcdefghijklmnopqrstuvwxyz0123456789.,;:!?'\"()-_/&%$#@*+=<>[]{}")
    tokens = list(EMBEDDER_SPECIALS) + characters + ["##" + c for c in "abcdefghijklmnopqrstuvwxyz0123456789"]
    for token in ["##" + piece for piece in EMBEDDER_PIECES] + EMBEDDER_WORDS:
        if token not in tokens:  # a vocabulary holds each token once
            tokens.append(token)
    return tokens


def generate_embedder():
    """`embedder` (ONNX): a BERT-style encoder with random weights and the generated vocab.txt
    beside its model file. Inputs input_ids, attention_mask, token_type_ids (INT64 [-1, -1]),
    output last_hidden_state (FP32 [-1, -1, 32]); its config.pbtxt makes it an embedding model
    (mean pooling, normalised, at most 128 tokens, dimensions 8, 16 or 32). The reference
    embeddings are computed by the tests themselves (ONNX Runtime, then their own pooling)."""
    torch.manual_seed(SEED + 2)
    vocabulary = embedder_vocabulary()
    network = Encoder(len(vocabulary)).eval()
    path = model_dir("embedder")
    write_text(os.path.join(path, "1", "vocab.txt"), "\n".join(vocabulary) + "\n")
    ids = torch.tensor([[2, 10, 11, 3]], dtype=torch.int64)
    torch.onnx.export(network, (ids, torch.ones_like(ids), torch.zeros_like(ids)), os.path.join(path, "1", "model.onnx"),
                      input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["last_hidden_state"],
                      dynamic_axes={name: {0: "batch", 1: "sequence"} for name in
                                    ("input_ids", "attention_mask", "token_type_ids", "last_hidden_state")},
                      opset_version=OPSET, do_constant_folding=True)
    write_text(os.path.join(path, "config.pbtxt"), """name: "embedder"
platform: "onnxruntime_onnx"
max_batch_size: 32
input [
  {
    name: "input_ids"
    data_type: TYPE_INT64
    dims: [ -1 ]
  },
  {
    name: "attention_mask"
    data_type: TYPE_INT64
    dims: [ -1 ]
  },
  {
    name: "token_type_ids"
    data_type: TYPE_INT64
    dims: [ -1 ]
  }
]
output [
  {
    name: "last_hidden_state"
    data_type: TYPE_FP32
    dims: [ -1, 32 ]
  }
]
dynamic_batching {
  max_queue_delay_microseconds: 500
}
parameters { key: "embedding_tokenizer" value: { string_value: "vocab.txt" } }
parameters { key: "embedding_pooling" value: { string_value: "mean" } }
parameters { key: "embedding_normalize" value: { string_value: "true" } }
parameters { key: "embedding_max_tokens" value: { string_value: "128" } }
parameters { key: "embedding_dimensions_allowed" value: { string_value: "8,16,32" } }
""")


RESNET50_DIR = os.path.join(os.path.dirname(HERE), "artifacts", "models")


def generate_sequences():
    """Two stateful models for the sequence batcher (Triton's sequence_batching, `direct`).

    `sequence_accumulator` keeps its running sum in implicit state: OUTPUT = ACCUMULATOR_IN + INPUT,
    and ACCUMULATOR_OUT (the same sum) comes back as ACCUMULATOR_IN on the sequence's next request,
    zero at its start. `sequence_controls` is stateless and shows what the batcher gives it, row by
    row: START, END and READY (INT32 0/1) and CORRID (UINT64) come back as outputs, and OUTPUT is
    INPUT * READY, so an empty slot's row reads 0.
    """
    dims = ["batch", 1]
    path = model_dir("sequence_accumulator")
    graph = helper.make_graph(
        [helper.make_node("Add", ["ACCUMULATOR_IN", "INPUT"], ["OUTPUT"]),
         helper.make_node("Identity", ["OUTPUT"], ["ACCUMULATOR_OUT"])],
        "sequence_accumulator",
        [helper.make_tensor_value_info("INPUT", TensorProto.INT32, dims),
         helper.make_tensor_value_info("ACCUMULATOR_IN", TensorProto.INT32, dims)],
        [helper.make_tensor_value_info("OUTPUT", TensorProto.INT32, dims),
         helper.make_tensor_value_info("ACCUMULATOR_OUT", TensorProto.INT32, dims)])
    save_onnx(graph, os.path.join(path, "1", "model.onnx"))
    write_text(os.path.join(path, "config.pbtxt"), """name: "sequence_accumulator"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [
  {
    name: "INPUT"
    data_type: TYPE_INT32
    dims: [ 1 ]
  }
]
output [
  {
    name: "OUTPUT"
    data_type: TYPE_INT32
    dims: [ 1 ]
  }
]
instance_group [ { count: 1, kind: KIND_CPU } ]
sequence_batching {
  max_sequence_idle_microseconds: 5000000
  direct { }
  state [
    {
      input_name: "ACCUMULATOR_IN"
      output_name: "ACCUMULATOR_OUT"
      data_type: TYPE_INT32
      dims: [ 1 ]
      initial_state: { data_type: TYPE_INT32 dims: [ 1 ] zero_data: true name: "zero" }
    }
  ]
}
""")
    # One sequence, as a client sends it: the running sums are the expected outputs.
    values = [3, -1, 7, 10, -4]
    samples = []
    total = 0
    for index, value in enumerate(values):
        total += value
        samples.append({
            "parameters": {"sequence_id": 42, "sequence_start": index == 0, "sequence_end": index == len(values) - 1},
            "inputs": [tensor_json("INPUT", "INT32", np.array([[value]], dtype=np.int32))],
            "outputs": [tensor_json("OUTPUT", "INT32", np.array([[total]], dtype=np.int32))],
            "tolerance": 0,
        })
    write_samples(path, "sequence_accumulator", samples)

    # The same accumulator as TorchScript: forward(INPUT__0, ACCUMULATOR__1) returns
    # (OUTPUT__0, the next ACCUMULATOR__1), positions as Triton's pytorch backend numbers them.
    torch_path = model_dir("sequence_accumulator_torch")
    torch.jit.script(Accumulator()).save(os.path.join(torch_path, "1", "model.pt"))
    write_text(os.path.join(torch_path, "config.pbtxt"), """name: "sequence_accumulator_torch"
platform: "pytorch_libtorch"
max_batch_size: 8
input [
  {
    name: "INPUT__0"
    data_type: TYPE_INT32
    dims: [ 1 ]
  }
]
output [
  {
    name: "OUTPUT__0"
    data_type: TYPE_INT32
    dims: [ 1 ]
  }
]
instance_group [ { count: 1, kind: KIND_CPU } ]
sequence_batching {
  max_sequence_idle_microseconds: 5000000
  direct { }
  state [
    {
      input_name: "ACCUMULATOR__1"
      output_name: "ACCUMULATOR_OUT__1"
      data_type: TYPE_INT32
      dims: [ 1 ]
      initial_state: { data_type: TYPE_INT32 dims: [ 1 ] zero_data: true name: "zero" }
    }
  ]
}
""")
    for sample in samples:
        sample["inputs"][0]["name"] = "INPUT__0"
        sample["outputs"][0]["name"] = "OUTPUT__0"
    write_samples(torch_path, "sequence_accumulator_torch", samples)

    path = model_dir("sequence_controls")
    flags = ["START", "END", "READY"]
    nodes = [helper.make_node("Mul", ["INPUT", "READY"], ["OUTPUT"]),
             helper.make_node("Identity", ["CORRID"], ["CORRID_OUT"])]
    nodes += [helper.make_node("Identity", [flag], [flag + "_OUT"]) for flag in flags]
    graph = helper.make_graph(
        nodes,
        "sequence_controls",
        [helper.make_tensor_value_info("INPUT", TensorProto.INT32, dims)]
        + [helper.make_tensor_value_info(flag, TensorProto.INT32, dims) for flag in flags]
        + [helper.make_tensor_value_info("CORRID", TensorProto.UINT64, dims)],
        [helper.make_tensor_value_info("OUTPUT", TensorProto.INT32, dims)]
        + [helper.make_tensor_value_info(flag + "_OUT", TensorProto.INT32, dims) for flag in flags]
        + [helper.make_tensor_value_info("CORRID_OUT", TensorProto.UINT64, dims)])
    save_onnx(graph, os.path.join(path, "1", "model.onnx"))
    outputs = "".join(f"""  {{
    name: "{flag}_OUT"
    data_type: TYPE_INT32
    dims: [ 1 ]
  }},
""" for flag in flags)
    write_text(os.path.join(path, "config.pbtxt"), """name: "sequence_controls"
platform: "onnxruntime_onnx"
max_batch_size: 4
input [
  {
    name: "INPUT"
    data_type: TYPE_INT32
    dims: [ 1 ]
  }
]
output [
  {
    name: "OUTPUT"
    data_type: TYPE_INT32
    dims: [ 1 ]
  },
""" + outputs + """  {
    name: "CORRID_OUT"
    data_type: TYPE_UINT64
    dims: [ 1 ]
  }
]
instance_group [ { count: 1, kind: KIND_CPU } ]
sequence_batching {
  max_sequence_idle_microseconds: 5000000
  direct { }
  control_input [
    { name: "START" control [ { kind: CONTROL_SEQUENCE_START int32_false_true: [ 0, 1 ] } ] },
    { name: "END" control [ { kind: CONTROL_SEQUENCE_END int32_false_true: [ 0, 1 ] } ] },
    { name: "READY" control [ { kind: CONTROL_SEQUENCE_READY int32_false_true: [ 0, 1 ] } ] },
    { name: "CORRID" control [ { kind: CONTROL_SEQUENCE_CORRID data_type: TYPE_UINT64 } ] }
  ]
}
""")
    samples = []
    values = [5, 6, 7]
    for index, value in enumerate(values):
        start, end = int(index == 0), int(index == len(values) - 1)
        samples.append({
            "parameters": {"sequence_id": 1001, "sequence_start": bool(start), "sequence_end": bool(end)},
            "inputs": [tensor_json("INPUT", "INT32", np.array([[value]], dtype=np.int32))],
            "outputs": [tensor_json("OUTPUT", "INT32", np.array([[value]], dtype=np.int32)),
                        tensor_json("START_OUT", "INT32", np.array([[start]], dtype=np.int32)),
                        tensor_json("END_OUT", "INT32", np.array([[end]], dtype=np.int32)),
                        tensor_json("READY_OUT", "INT32", np.array([[1]], dtype=np.int32)),
                        tensor_json("CORRID_OUT", "UINT64", np.array([[1001]], dtype=np.uint64))],
            "tolerance": 0,
        })
    write_samples(path, "sequence_controls", samples)


def generate_embedder_sentencepiece():
    """A SentencePiece model (BPE, 200 pieces, no normalisation) for the sample embedder's encoder,
    trained here on sentences of the embedder's words, as `embedder/1/spm.model` beside
    `vocab.txt` (the config keeps naming vocab.txt; tests serve a copy that names spm.model).
    `embedder/sentencepiece.json` holds texts and the ids Google's own sentencepiece gives them
    with <s> and </s> (ids 1 and 2) around, the reference for Microsoft.ML.Tokenizers' reading of
    the model. Needs Debian's python3-sentencepiece; without it, nothing is written."""
    try:
        import sentencepiece
    except ImportError:
        print("python3-sentencepiece is not installed: embedder/1/spm.model not written", file=sys.stderr)
        return
    import io
    rng = np.random.default_rng(SEED + 1)
    corpus = [" ".join(rng.choice(EMBEDDER_WORDS, size=int(rng.integers(3, 12)))) for _ in range(2000)]
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus), model_writer=model, model_type="bpe", vocab_size=200,
        hard_vocab_limit=False, character_coverage=1.0, normalization_rule_name="identity",
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, num_threads=1, minloglevel=2)
    path = os.path.join(HERE, "embedder")
    with open(os.path.join(path, "1", "spm.model"), "wb") as f:
        f.write(model.getvalue())
    processor = sentencepiece.SentencePieceProcessor(model_proto=model.getvalue())
    texts = ["the quick brown fox", "embeddings for search and retrieval", corpus[0], corpus[1], "zebra quartz 42"]
    samples = [{"text": text, "ids": processor.encode(text, add_bos=True, add_eos=True)} for text in texts]
    lines = ",\n".join("  " + json.dumps(sample) for sample in samples)  # one sample a line
    write_text(os.path.join(path, "sentencepiece.json"),
               f'{{"generator": "models/generate.py", "vocabulary_size": {processor.get_piece_size()}, "samples": [\n{lines}\n]}}\n')


def generate_image_pool():
    """`image_pool`: ResNet-50's input, FP32 [-1,3,224,224] (602,112 bytes an image), reduced to
    its mean per channel, FP32 [-1,3] (a global average pool). Its run costs next to nothing
    and its graph is a few hundred bytes, so what a measurement of it sees is what moving a
    ResNet-sized input costs (Benchmarks/shm-cost.sh). No samples.json: a sample would be
    megabytes of JSON; the tests compute the means themselves."""
    path = model_dir("image_pool")
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["INPUT0"], ["OUTPUT0"], axes=[2, 3], keepdims=0)],
        "image_pool",
        [helper.make_tensor_value_info("INPUT0", TensorProto.FLOAT, ["batch", 3, 224, 224])],
        [helper.make_tensor_value_info("OUTPUT0", TensorProto.FLOAT, ["batch", 3])])
    save_onnx(graph, os.path.join(path, "1", "model.onnx"))
    write_text(os.path.join(path, "config.pbtxt"), """name: "image_pool"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [
  {
    name: "INPUT0"
    data_type: TYPE_FP32
    dims: [ 3, 224, 224 ]
  }
]
output [
  {
    name: "OUTPUT0"
    data_type: TYPE_FP32
    dims: [ 3 ]
  }
]
""")


def generate_resnet50(repository):
    """ResNet-50 (torchvision's definition, random weights): FP32 [-1,3,224,224] -> logits [-1,1000],
    about 4.1 GFLOP per image and 100 MB of weights, so it is generated on demand and never
    committed. The weights go to model.onnx.data beside the graph (ONNX external data), and
    weights.json lists each initializer's place in it, so that a host without torchvision can
    refill it (Benchmarks/gpu-check.sh carries the graph, not the weights)."""
    import torchvision  # Debian's python3-torchvision; only this model needs it
    torch.manual_seed(SEED)
    network = torchvision.models.resnet50(weights=None).eval()
    path = os.path.join(repository, "resnet50")
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(os.path.join(path, "1"))
    exported = os.path.join(path, "1", "exported.onnx")
    torch.onnx.export(network, torch.zeros(1, 3, 224, 224), exported,
                      input_names=["INPUT0"], output_names=["OUTPUT0"],
                      dynamic_axes={"INPUT0": {0: "batch"}, "OUTPUT0": {0: "batch"}},
                      opset_version=OPSET, do_constant_folding=True)
    model = onnx.load(exported)
    os.remove(exported)
    onnx.save_model(model, os.path.join(path, "1", "model.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="model.onnx.data", size_threshold=1024)
    saved = onnx.load(os.path.join(path, "1", "model.onnx"), load_external_data=False)
    weights = []
    for initializer in saved.graph.initializer:
        place = {entry.key: entry.value for entry in initializer.external_data}
        if "offset" not in place:
            continue  # small tensors (biases, shapes) stay in model.onnx
        if initializer.data_type != TensorProto.FLOAT:
            raise SystemExit(f"{initializer.name}: only FP32 weights can be refilled from weights.json")
        dims = list(initializer.dims)
        weights.append({"name": initializer.name, "offset": int(place["offset"]), "length": int(place["length"]),
                        "dims": dims, "fan_in": int(np.prod(dims[1:])) if len(dims) > 1 else 1})
    write_text(os.path.join(path, "weights.json"), json.dumps({"file": "1/model.onnx.data", "tensors": weights}, indent=1) + "\n")
    write_text(os.path.join(path, "config.pbtxt"), """name: "resnet50"
platform: "onnxruntime_onnx"
max_batch_size: 32
input [
  {
    name: "INPUT0"
    data_type: TYPE_FP32
    dims: [ 3, 224, 224 ]
  }
]
output [
  {
    name: "OUTPUT0"
    data_type: TYPE_FP32
    dims: [ 1000 ]
  }
]
""")
    print("resnet50 written to", path, file=sys.stderr)


def record_sources_relative_to_repository():
    """TorchScript's debug information in model.pt names the file its code came from, by absolute
    path; name it relative to the repository so that model.pt is the same in every checkout."""
    import torch._sources
    import torch.jit.frontend
    original = torch._sources.get_source_lines_and_file

    def relative(obj, error_msg=None):
        lines, line_number, filename = original(obj, error_msg)
        if filename and os.path.isabs(filename):
            filename = os.path.relpath(filename, os.path.dirname(HERE))
        return lines, line_number, filename

    torch._sources.get_source_lines_and_file = relative
    torch.jit.frontend.get_source_lines_and_file = relative


def generate_ensembles():
    """`simple_chain` (ensemble): `simple` twice, its sum and difference fed back in, so
    TWICE_A = (A + B) + (A - B) = 2A and TWICE_B = (A + B) - (A - B) = 2B (INT32 [16]).
    An ensemble has no model file; its version folder holds only a placeholder, since an
    empty folder does not survive version control. Its own generator, so its samples do not
    move the other models' random numbers."""
    rng = np.random.default_rng(SEED + 25)
    path = model_dir("simple_chain")
    write_text(os.path.join(path, "1", ".gitkeep"), "")
    write_text(os.path.join(path, "config.pbtxt"), """name: "simple_chain"
platform: "ensemble"
max_batch_size: 8
input [
  {
    name: "A"
    data_type: TYPE_INT32
    dims: [ 16 ]
  },
  {
    name: "B"
    data_type: TYPE_INT32
    dims: [ 16 ]
  }
]
output [
  {
    name: "TWICE_A"
    data_type: TYPE_INT32
    dims: [ 16 ]
  },
  {
    name: "TWICE_B"
    data_type: TYPE_INT32
    dims: [ 16 ]
  }
]
ensemble_scheduling {
  step [
    {
      model_name: "simple"
      model_version: -1
      input_map { key: "INPUT0" value: "A" }
      input_map { key: "INPUT1" value: "B" }
      output_map { key: "OUTPUT0" value: "sum" }
      output_map { key: "OUTPUT1" value: "difference" }
    },
    {
      model_name: "simple"
      model_version: -1
      input_map { key: "INPUT0" value: "sum" }
      input_map { key: "INPUT1" value: "difference" }
      output_map { key: "OUTPUT0" value: "TWICE_A" }
      output_map { key: "OUTPUT1" value: "TWICE_B" }
    }
  ]
}
""")
    samples = []
    for batch, nested in ((1, False), (3, True), (8, False)):
        a = rng.integers(-1_000_000, 1_000_000, size=(batch, 16), dtype=np.int32)
        b = rng.integers(-1_000_000, 1_000_000, size=(batch, 16), dtype=np.int32)
        samples.append({
            "inputs": [tensor_json("A", "INT32", a, nested), tensor_json("B", "INT32", b, nested)],
            "outputs": [tensor_json("TWICE_A", "INT32", (2 * a.astype(np.int64)).astype(np.int32)),
                        tensor_json("TWICE_B", "INT32", (2 * b.astype(np.int64)).astype(np.int32))],
            "tolerance": 0,
        })
    write_samples(path, "simple_chain", samples)


def main():
    if sys.argv[1:2] == ["--resnet50"]:
        generate_resnet50(sys.argv[2] if len(sys.argv) > 2 else RESNET50_DIR)
        return
    # TorchScript's class-name mangling follows Python's string hashing; fix it so that
    # model.pt is byte-for-byte reproducible.
    if os.environ.get("PYTHONHASHSEED") != "0":
        os.environ["PYTHONHASHSEED"] = "0"
        os.execv(sys.executable, [sys.executable] + sys.argv)
    record_sources_relative_to_repository()
    torch.use_deterministic_algorithms(True)
    rng = np.random.default_rng(SEED)
    generate_simple(rng)
    generate_mlp(rng)
    generate_strings(rng)
    generate_identity()
    generate_cnn(rng)
    generate_sequences()
    generate_embedder()
    generate_embedder_sentencepiece()
    generate_image_pool()
    generate_ensembles()
    print("models written to", HERE, file=sys.stderr)


if __name__ == "__main__":
    main()
