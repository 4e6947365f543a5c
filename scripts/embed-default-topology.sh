#!/usr/bin/env bash
# Regenerates Sources/ThawTopology/Topology+EmbeddedDefault.swift from Topologies/local.yaml.
# ThawTopologyTests fails when the two differ, so run this after editing the YAML.
set -euo pipefail
cd "$(dirname "$0")/.."
yaml=Topologies/local.yaml
out=Sources/ThawTopology/Topology+EmbeddedDefault.swift
if grep -q '"""#' "$yaml"; then echo "error: $yaml contains \"\"\"# and cannot be embedded" >&2; exit 1; fi
{
    cat <<'HEAD'
// Generated from Topologies/local.yaml by scripts/embed-default-topology.sh — do not edit.

/// The text of `Topologies/local.yaml`, compiled in so `thaw up` can run the demo without the repository.
///
/// `ThawTopologyTests` checks that this string and the file are identical.
extension Topology {
    /// The default local demo topology, verbatim.
    public static let embeddedDefault: String = #"""
HEAD
    cat "$yaml"
    # A multi-line literal drops the newline before its closing delimiter; this blank line keeps the file's.
    echo
    cat <<'TAIL'
"""#

    /// The origin label diagnostics use for ``embeddedDefault``.
    public static let embeddedDefaultOrigin = "<embedded local.yaml>"

    /// The embedded default topology, parsed and validated.
    /// - Throws: ``TopologyError`` only if the embedded text is broken, which a unit test rules out.
    public static func embedded() throws(TopologyError) -> Topology {
        try parse(yaml: embeddedDefault, origin: embeddedDefaultOrigin)
    }
}
TAIL
} > "$out"
echo "wrote $out"
