import Foundation

/// The one topology shape the integration tests run: coordinator, registry, `workers` workers, one device
/// process with `phones` phones and, optionally, a monitor, all on ipc:// endpoints under `directory`.
/// Suites differ only in the knobs below, so they share this text instead of each keeping a copy.
struct IntegrationTopology {
    var name = "integration"
    var modelPath: String
    var workers: Int
    var phones: Int
    var freezePoint = 7
    /// The coordinator's `auto-freeze` value (YAML flow mapping); `off` when nil.
    var autoFreeze: String?
    var epochs = 5
    var annotationShare = 0.5
    /// Off here: these tests count the heads phones swap in; the gate is unit-tested and measured by `thaw personalize`.
    var headSwapGate = false
    var flushSamples = 8
    var flushInterval = "2s"
    var monitor = true
    /// The goal's `heads-per-device`.
    var headsPerDevice = 1
    /// The workers' `activation-encoding` (float32 | float16 | int8); the default when nil.
    var activationEncoding: String?
    /// The registry's `database:`; nil: `registry.sqlite` in the folder.
    var database: String? = nil
    /// Registry processes: more than one needs a shared `postgres://` ``database`` (the extra ones are
    /// named `registry-2`, `registry-3`, …).
    var registries = 1

    private func extraRegistries(in directory: String) -> String {
        guard registries > 1 else { return "" }
        return (2...registries).map { index in
            """
              - name: registry-\(index)
                role: registry
                endpoints:
                  router: ipc://\(directory)/reg-\(index)
                  announce: ipc://\(directory)/heads-\(index)
                options:
                  database: \(database ?? "")

            """
        }.joined()
    }

    /// Writes the topology to `directory/topology.yaml` and returns that path.
    func write(in directory: String) throws -> String {
        var text = """
            name: \(name)
            seed: 42
            model:
              cache: \(modelPath)
            goal:
              heads-per-device: \(headsPerDevice)
              duration: 3m
            nodes:
              - name: coordinator
                role: coordinator
                endpoints:
                  publish: ipc://\(directory)/pub
                  control: ipc://\(directory)/ctl
                options:
                  freeze-point: \(freezePoint)
                  heartbeat-interval: 500ms
                  auto-freeze: \(autoFreeze ?? "off")
              - name: registry
                role: registry
                endpoints:
                  router: ipc://\(directory)/reg
                  announce: ipc://\(directory)/heads
                options:
                  database: \(database ?? "\(directory)/registry.sqlite")
            \(extraRegistries(in: directory))  - name: worker
                role: worker
                count: \(workers)
                endpoints:
                  pull: ipc://\(directory)/pull
                options:
                  epochs: \(epochs)
                  learning-rate: 0.05
                  activation-encoding: \(activationEncoding ?? "float32")
              - name: phones
                role: device
                count: \(phones)
                options:
                  annotation-share: \(annotationShare)
                  head-swap-gate: \(headSwapGate ? "on" : "off")
                  flush:
                    samples: \(flushSamples)
                    interval: \(flushInterval)

            """
        if monitor {
            text += """
                  - name: monitor
                    role: monitor
                    endpoints:
                      metrics: ipc://\(directory)/metrics
                      watch: ipc://\(directory)/watch

                """
        }
        let file = "\(directory)/topology.yaml"
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }
}
