/// The daemon's version, reported by `GET /v1/host` and `--version`.
public enum ApusVersion {
    public static let current = "0.2.0"
    /// Request bodies larger than this answer 413 (documented in docs/openapi.yaml).
    public static let maximumRequestBodyBytes = 64 * 1024
}
