#!/usr/bin/python3
"""A small Thaw client written from docs/PROTOCOL.md alone: pushes one feature batch through a live
topology and verifies the head the registry then serves.

    /usr/bin/python3 scripts/thaw_client.py --registry ipc:///tmp/x/reg --worker ipc:///tmp/x/pull \
        --coordinator ipc:///tmp/x/pub [--announce ipc:///tmp/x/heads] [--user py-user] [--timeout 120]

Steps (each checked; any failure exits 1 with a message):
 1. learn the deployment (model version, freeze point k, hyper-parameter hash) from a coordinator
    Heartbeat (PUB topic "heartbeat");
 2. fetch the base model from the registry (BaseModelRequest, model_version 0 = newest), check its
    checkpoint's SHA-256 trailer and that ContentHash.model of its contents equals model_hash;
 3. derive the activation shape at k and the class count from the architecture, and PUSH a
    FeatureBatch of random activations to a worker;
 4. pull the user's head from the registry (HeadRequest on a DEALER, several in flight, replies
    matched by Envelope.in_reply_to) until it is HEAD and lists the batch in durable_seqs;
 5. recompute ContentHash.head of the served parameters and compare it with head_hash; then a
    conditional pull with have_hash must answer NOT_MODIFIED;
 6. with --announce: a HeadAnnounce for the user must have arrived on topic "heads".

Needs python3-zmq, python3-protobuf and protoc (Debian packages; scripts/test installs them).
The Python protobuf modules are generated from Sources/ThawWire/Protos into a temporary folder.
"""

import argparse
import hashlib
import os
import random
import struct
import subprocess
import sys
import tempfile
import time

import zmq

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROTOS = os.path.join(ROOT, "Sources", "ThawWire", "Protos")


def fail(message):
    print(f"thaw_client: FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def load_protos():
    out = tempfile.mkdtemp(prefix="thaw-py-")
    files = sorted(
        os.path.join(PROTOS, "thaw", "v1", name)
        for name in os.listdir(os.path.join(PROTOS, "thaw", "v1"))
        if name.endswith(".proto"))
    subprocess.run(["protoc", "-I", PROTOS, f"--python_out={out}"] + files, check=True)
    sys.path.insert(0, out)
    from thaw.v1 import envelope_pb2  # noqa: E402
    return envelope_pb2


# ---------------------------------------------------------------- model format (docs/MODEL-FORMAT.md)

class Reader:
    def __init__(self, data, offset=0):
        self.data, self.offset = data, offset

    def take(self, fmt):
        values = struct.unpack_from("<" + fmt, self.data, self.offset)
        self.offset += struct.calcsize("<" + fmt)
        return values if len(values) > 1 else values[0]

    def bytes(self, n):
        chunk = self.data[self.offset:self.offset + n]
        self.offset += n
        return chunk


def parse_architecture(encoding):
    """Returns (input shape, [(tag, fields, raw bytes of the layer)])."""
    r = Reader(encoding)
    if r.take("B") != 1:
        fail("unknown architecture encoding version")
    rank = r.take("B")
    shape = [r.take("I") for _ in range(rank)]
    layers = []
    for _ in range(r.take("I")):
        start = r.offset
        tag = r.take("B")
        count = {1: 2, 2: 5, 3: 0, 4: 2, 5: 0, 6: 1}.get(tag)
        if count is None:
            fail(f"unknown layer tag {tag}")
        fields = [r.take("I") for _ in range(count)]
        layers.append((tag, fields, encoding[start:r.offset]))
    return shape, layers


def output_shape(tag, fields, shape):
    if tag == 1:  # dense inputs, outputs
        return [fields[1]]
    if tag == 2:  # conv2D in, out, kernel, stride, padding
        _, out, kernel, stride, padding = fields
        return [out, (shape[1] + 2 * padding - kernel) // stride + 1, (shape[2] + 2 * padding - kernel) // stride + 1]
    if tag == 4:  # maxPool2D size, stride
        size, stride = fields
        return [shape[0], (shape[1] - size) // stride + 1, (shape[2] - size) // stride + 1]
    if tag == 5:  # flatten
        n = 1
        for d in shape:
            n *= d
        return [n]
    return shape  # relu, dropout


def parameter_count(tag, fields):
    if tag == 1:
        return fields[0] * fields[1] + fields[1]
    if tag == 2:
        return fields[1] * fields[0] * fields[2] * fields[2] + fields[1]
    return 0


def encode_architecture(shape, layers):
    return struct.pack("<BB", 1, len(shape)) + b"".join(struct.pack("<I", d) for d in shape) + \
        struct.pack("<I", len(layers)) + b"".join(raw for _, _, raw in layers)


def tag_bytes(text):
    raw = text.encode()
    return struct.pack("<H", len(raw)) + raw


def floats(values):
    # Little-endian float32 with -0 written as +0 (equal weights, equal hash).
    return b"".join(struct.pack("<f", v + 0.0) for v in values)


def parse_checkpoint(data):
    if data[:8] != b"THAWMDL1":
        fail("checkpoint magic is not THAWMDL1")
    if hashlib.sha256(data[:-32]).digest() != data[-32:]:
        fail("checkpoint checksum mismatch")
    r = Reader(data, 8)
    if r.take("I") != 1:
        fail("unsupported checkpoint format version")
    version = r.take("Q")
    encoding = r.bytes(r.take("I"))
    for _ in range(r.take("I")):
        r.bytes(r.take("H"))
        r.bytes(4 * r.take("B"))
    count = r.take("Q")
    parameter_bytes = r.bytes(4 * count)
    return version, encoding, count, parameter_bytes


def model_hash(encoding, count, parameter_bytes):
    values = struct.unpack(f"<{count}f", parameter_bytes)
    body = tag_bytes("THAW-MODEL-1") + struct.pack("<I", len(encoding)) + encoding + struct.pack("<Q", count) + floats(values)
    return hashlib.sha256(body).hexdigest()


def head_hash(shape, layers, k, parameters):
    shapes = [shape]
    for tag, fields, _ in layers:
        shapes.append(output_shape(tag, fields, shapes[-1]))
    head = encode_architecture(shapes[k], layers[k:])
    body = tag_bytes("THAW-HEAD-1") + struct.pack("<I", k) + struct.pack("<I", len(head)) + head + \
        struct.pack("<Q", len(parameters)) + floats(parameters)
    return hashlib.sha256(body).hexdigest()


# ---------------------------------------------------------------- wire (docs/PROTOCOL.md)

class Client:
    def __init__(self, pb, name):
        self.pb, self.name, self.sequence = pb, name, 0

    def envelope(self, **payload):
        self.sequence += 1
        return self.pb.Envelope(
            protocol_version=1, sender=self.name, sequence=self.sequence,
            sent_at_unix_ms=int(time.time() * 1000), **payload)

    def decode(self, frames):
        envelope = self.pb.Envelope.FromString(frames[0])
        if envelope.protocol_version != 1:
            fail(f"protocol_version {envelope.protocol_version}")
        if len(frames) - 1 != len(envelope.tensors):
            fail("tensor frame count does not match the descriptors")
        tensors = {}
        for descriptor, frame in zip(envelope.tensors, frames[1:]):
            if descriptor.byte_length != len(frame):
                fail(f"tensor {descriptor.name}: byte_length {descriptor.byte_length}, frame {len(frame)}")
            tensors[descriptor.name] = frame
        return envelope, tensors

    def requests(self, socket, envelopes, timeout):
        """Sends every request at once on one DEALER and returns {request id: (envelope, tensors)},
        matching replies by Envelope.in_reply_to (they may come in any order)."""
        waiting = {}
        for envelope in envelopes:
            socket.send_multipart([envelope.SerializeToString()])
            waiting[envelope.sequence] = envelope
        replies = {}
        deadline = time.time() + timeout
        while waiting:
            if not socket.poll(max(1, int((deadline - time.time()) * 1000))):
                fail(f"no reply to requests {sorted(waiting)}")
            reply, tensors = self.decode(socket.recv_multipart())
            if reply.in_reply_to not in waiting:
                fail(f"reply in_reply_to={reply.in_reply_to} answers none of {sorted(waiting)}")
            if reply.WhichOneof("payload") == "error_reply":
                fail(f"request {reply.in_reply_to} refused: {reply.error_reply.message}")
            del waiting[reply.in_reply_to]
            replies[reply.in_reply_to] = (reply, tensors)
        return replies


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--registry", required=True)
    parser.add_argument("--worker", required=True)
    parser.add_argument("--coordinator", required=True, help="the coordinator's PUB endpoint")
    parser.add_argument("--announce", help="the registry's announce PUB endpoint, if any")
    parser.add_argument("--user", default="py-user")
    parser.add_argument("--device", default="py-device")
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=120)
    args = parser.parse_args()
    pb = load_protos()
    context = zmq.Context.instance()
    client = Client(pb, args.device)

    # 1. The deployment, from a heartbeat.
    sub = context.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"heartbeat")
    sub.connect(args.coordinator)
    heads = None
    if args.announce:
        heads = context.socket(zmq.SUB)
        heads.setsockopt(zmq.SUBSCRIBE, b"heads")
        heads.connect(args.announce)
    if not sub.poll(int(args.timeout * 1000)):
        fail("no heartbeat from the coordinator")
    frames = sub.recv_multipart()
    envelope, _ = client.decode(frames[1:])
    state = envelope.heartbeat.state
    k = state.freeze_point
    print(f"deployment: model v{state.model_version} k={k} hyper {state.hyper_hash[:12]}")

    # 2. The base model, verified.
    dealer = context.socket(zmq.DEALER)
    dealer.connect(args.registry)
    from thaw.v1 import base_model_pb2
    request = client.envelope(base_model_request=base_model_pb2.BaseModelRequest(model_version=0))
    reply, tensors = client.requests(dealer, [request], args.timeout)[request.sequence]
    base = reply.base_model_reply
    if base.model_version != state.model_version:
        fail(f"newest base model is v{base.model_version}, the deployment runs v{state.model_version}")
    version, encoding, count, parameter_bytes = parse_checkpoint(tensors["checkpoint"])
    if model_hash(encoding, count, parameter_bytes) != base.model_hash or base.model_hash != state.model_hash:
        fail("the base model's content does not hash to model_hash")
    shape, layers = parse_architecture(encoding)
    shapes = [shape]
    for tag, fields, _ in layers:
        shapes.append(output_shape(tag, fields, shapes[-1]))
    activation, classes = shapes[k], shapes[-1][0]
    print(f"base model v{version} verified: activation at k={k} is {activation}, {classes} classes")

    # 3. One batch to a worker.
    from thaw.v1 import features_pb2, heads_pb2
    n = args.samples
    per_sample = 1
    for d in activation:
        per_sample *= d
    rng = random.Random(7)
    values = [abs(rng.gauss(0, 1)) for _ in range(n * per_sample)]
    seq = int(time.time() * 1000)  # a fresh sequence per run
    batch = features_pb2.FeatureBatch(
        user_id=args.user, device_id=args.device, device_seq=seq, model_version=state.model_version,
        model_hash=state.model_hash, freeze_point=k, hyper_hash=state.hyper_hash,
        sample_ids=[seq * 100 + i for i in range(n)], labels=[i % classes for i in range(n)],
        created_at_ms=int(time.time() * 1000), epoch=state.epoch)
    push_envelope = client.envelope(feature_batch=batch)
    push_envelope.tensors.add(name="activations", dtype=pb.DTYPE_FLOAT32, shape=[n] + activation, byte_length=4 * len(values))
    push = context.socket(zmq.PUSH)
    push.connect(args.worker)
    push.send_multipart([push_envelope.SerializeToString(), struct.pack(f"<{len(values)}f", *values)])
    print(f"pushed batch {args.device}#{seq}: {n} samples")

    # 4. Pull until the head covers it (three requests in flight each round, matched by id).
    deadline = time.time() + args.timeout
    while True:
        asks = [client.envelope(head_request=heads_pb2.HeadRequest(
            user_id=args.user, device_id=args.device, model_version=state.model_version, freeze_point=k))
            for _ in range(3)]
        replies = client.requests(dealer, asks, args.timeout)
        reply, tensors = replies[asks[-1].sequence]
        head = reply.head_reply
        if head.status == heads_pb2.HEAD_STATUS_HEAD and seq in head.durable_seqs:
            break
        if time.time() > deadline:
            fail(f"no head covering the batch (last status {head.status}, durable {list(head.durable_seqs)})")
        time.sleep(0.3)
    parameters = struct.unpack(f"<{len(tensors['head_parameters']) // 4}f", tensors["head_parameters"])
    expected = sum(parameter_count(tag, fields) for tag, fields, _ in layers[k:])
    if len(parameters) != expected:
        fail(f"head has {len(parameters)} parameters, the model needs {expected} at k={k}")
    if head_hash(shape, layers, k, parameters) != head.head_hash:
        fail("the served head does not hash to head_hash")
    print(f"head v{head.head_version} verified: {len(parameters)} parameters, hash {head.head_hash[:16]}")

    # 5. Conditional pull.
    again = client.envelope(head_request=heads_pb2.HeadRequest(
        user_id=args.user, device_id=args.device, have_hash=head.head_hash, model_version=state.model_version,
        freeze_point=k))
    reply, tensors = client.requests(dealer, [again], args.timeout)[again.sequence]
    if reply.head_reply.status != heads_pb2.HEAD_STATUS_NOT_MODIFIED or tensors:
        fail(f"conditional pull answered {reply.head_reply.status}")

    # 6. The announcement.
    if heads is not None:
        while True:
            if not heads.poll(int(max(0.1, deadline - time.time()) * 1000)):
                fail("no HeadAnnounce for the user on topic heads")
            topic, *rest = heads.recv_multipart()
            announced, _ = client.decode(rest)
            if topic == b"heads" and announced.head_announce.user_id == args.user:
                break
        print(f"announced: v{announced.head_announce.head_version} {announced.head_announce.head_hash[:16]}")
    print("thaw_client: OK")


if __name__ == "__main__":
    main()
