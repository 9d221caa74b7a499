/// How the software CPU runs guest code: the interpreter alone, or hot blocks translated to host code with the
/// interpreter for everything else. The default is the interpreter until the translation tier passes every test in
/// CI; `APUS_SOFT_CPU=translate` (or `interpreter`) in the environment changes the default (tests use it).
public enum SoftCPUTier: String, Sendable, CaseIterable {
    case interpreter
    case translate

    public static let environmentVariable = "APUS_SOFT_CPU"

    /// The tier `APUS_SOFT_CPU` names, else the interpreter.
    public static var `default`: SoftCPUTier {
        guard let raw = getenv(environmentVariable) else { return .interpreter }
        return SoftCPUTier(rawValue: String(cString: raw)) ?? .interpreter
    }
}

#if canImport(Glibc)
import Glibc
#endif
