import ApusSoftCPU

/// How the software CPU runs guest code, as a machine's configuration carries it (`apus run --soft-cpu`): the
/// interpreter alone, or hot blocks translated to host code (the translation tier; the interpreter stays the
/// fallback). The interpreter is the default until the tier passes every test in CI; `APUS_SOFT_CPU` in the
/// environment changes the default (tests use it).
public enum SoftCPUMode: String, CaseIterable, Sendable, Codable {
    case interpreter
    case translate

    /// The mode `APUS_SOFT_CPU` names, else the interpreter.
    public static var `default`: SoftCPUMode { SoftCPUMode(rawValue: SoftCPUTier.default.rawValue) ?? .interpreter }

    var tier: SoftCPUTier { SoftCPUTier(rawValue: rawValue) ?? .interpreter }
}
