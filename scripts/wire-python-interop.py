#!/usr/bin/env python3
"""Builds a FeatureBatch with Python's protobuf, the way docs/PROTOCOL.md shows, and writes its frames
as Tests/ThawWireTests/Fixtures/python_feature_batch.hex (one hex line per frame), which the Swift
tests decode: proof that another language can speak thaw.v1.

Needs `protobuf` (pip) and Debian's protoc. Run: python3 scripts/wire-python-interop.py
"""
import os
import struct
import subprocess
import sys
import tempfile

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
protos = os.path.join(root, "Sources", "ThawWire", "Protos")
out = tempfile.mkdtemp()
subprocess.run(
    ["protoc", "-I", protos, "--python_out=" + out]
    + [os.path.join(protos, "thaw", "v1", f) for f in sorted(os.listdir(os.path.join(protos, "thaw", "v1")))],
    check=True,
)
sys.path.insert(0, out)
from thaw.v1 import envelope_pb2, features_pb2  # noqa: E402

shape = (2, 3)
scalars = [0.5, -1.0, 2.25, 0.0, 3.5, -0.125]
activations = struct.pack("<%df" % len(scalars), *scalars)  # little-endian float32, row-major

batch = features_pb2.FeatureBatch(
    user_id="py-user", device_id="py-device", device_seq=5, model_version=3, model_hash="ab12cd34",
    freeze_point=4, hyper_hash="ff00", sample_ids=[7, 8], labels=[1, 2], created_at_ms=1_764_650_000_000,
)
envelope = envelope_pb2.Envelope(
    protocol_version=1, sender="py-device", sequence=11, sent_at_unix_ms=1_764_650_000_001, feature_batch=batch
)
envelope.tensors.add(
    name="activations", dtype=envelope_pb2.DTYPE_FLOAT32, shape=list(shape), byte_length=len(activations)
)
frames = [envelope.SerializeToString(), activations]

path = os.path.join(root, "Tests", "ThawWireTests", "Fixtures", "python_feature_batch.hex")
with open(path, "w") as f:
    f.write("\n".join(frame.hex() for frame in frames) + "\n")
print("wrote", path)
