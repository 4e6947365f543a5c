// Placeholder until the module lands; see docs/ARCHITECTURE.md.
