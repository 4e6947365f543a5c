// Generated from Topologies/local.yaml by scripts/embed-default-topology.sh — do not edit.

/// The text of `Topologies/local.yaml`, compiled in so `thaw up` can run the demo without the repository.
///
/// `ThawTopologyTests` checks that this string and the file are identical.
extension Topology {
    /// The default local demo topology, verbatim.
    public static let embeddedDefault: String = #"""
# The default demo: every role on this machine, tcp on 127.0.0.1:57xx.
# `thaw up` runs it; `thaw up` without --topology runs the copy embedded in the binary.
# Schema: docs/TOPOLOGY.md
name: local
seed: 42
data: default
model:
  pretrain-epochs: 1                # a deliberately rough general model: 1 epoch on a quarter of
  pretrain-share: 0.25              # the shipped training writers, so personal heads have room to help
goal:
  heads-per-device: 1              # stop once every phone has a head covering all it uploaded
  duration: 10m

nodes:
  - name: coordinator
    role: coordinator
    endpoints:
      publish: tcp://127.0.0.1:5701   # PUB: version, freeze point, heartbeats
      control: tcp://127.0.0.1:5702   # ROUTER: operator and auto-freeze requests
    options:
      freeze-point: 7                 # FedAvg CNN: backbone = both conv blocks + flatten (3136 floats)
      heartbeat-interval: 1s
      auto-freeze: off

  - name: registry
    role: registry
    endpoints:
      router: tcp://127.0.0.1:5703    # ROUTER: workers store heads, devices pull them
      announce: tcp://127.0.0.1:5706  # PUB: HeadAnnounce (topic heads) after each committed head
    options:
      database: thaw-out/registry.sqlite

  - name: worker
    role: worker
    count: 2                          # processes worker-0 (:5710) and worker-1 (:5711)
    endpoints:
      pull: tcp://127.0.0.1:5710      # PULL: devices PUSH flushed activations here
    options:
      epochs: 5
      learning-rate: 0.05
      optimiser: sgd

  - name: phones
    role: device
    count: 8                          # eight simulated phones in one process
    options:
      users: auto
      annotation-share: 0.5
      battery:
        initial-level: 1.0
        minimum-level: 0.2
      flush:
        samples: 8
        interval: 3s

  - name: monitor
    role: monitor
    endpoints:
      metrics: tcp://127.0.0.1:5704   # SUB (bound): every role PUBlishes its metrics here
      watch: tcp://127.0.0.1:5705     # PUB (bound): forwards it all; `thaw monitor --attach` connects here
    options:
      interval: 2s
      http: 127.0.0.1:5780            # live dashboard http://127.0.0.1:5780/ and Prometheus /metrics

"""#

    /// The origin label diagnostics use for ``embeddedDefault``.
    public static let embeddedDefaultOrigin = "<embedded local.yaml>"

    /// The embedded default topology, parsed and validated.
    /// - Throws: ``TopologyError`` only if the embedded text is broken, which a unit test rules out.
    public static func embedded() throws(TopologyError) -> Topology {
        try parse(yaml: embeddedDefault, origin: embeddedDefaultOrigin)
    }
}
