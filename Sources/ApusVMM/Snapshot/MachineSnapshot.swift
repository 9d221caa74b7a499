import ApusCore

/// The manifest of a suspended machine: everything but guest memory, which lives in the files it names.
struct MachineSnapshot: Codable, Sendable {
    static let formatVersion = 1

    struct MemoryFile: Codable, Sendable {
        var start: UInt64
        var size: UInt64
        var file: String
    }

    var formatVersion = MachineSnapshot.formatVersion
    var platform: MachinePlatform
    /// By vCPU index.
    var vcpus: [CPUState]
    /// By device slot name.
    var devices: [String: SavedDevice]
    var memory: [MemoryFile]
}
