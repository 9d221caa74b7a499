import Foundation

/// KVM's CPL3 outcomes, recorded on a machine with /dev/kvm (APUS_RECORD_EXPECTATIONS=1) so machines without it
/// check the software CPU against the same cases: one 64-bit fingerprint (UserOutcome.fingerprint) per line, one
/// file per group, for the default seed and case count.
enum UserModeExpectations {
    static func fileName(_ group: CaseGroup, seed: UInt64) -> String { "user-\(group)-\(String(seed, radix: 16)).txt" }

    static func load(_ group: CaseGroup, seed: UInt64) -> [UInt64]? {
        let name = fileName(group, seed: seed)
        guard let url = Bundle.module.url(forResource: "Expectations/\(name)", withExtension: nil)
                ?? Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Expectations"),
              let text = try? String(contentsOf: url, encoding: .utf8) else { return nil }
        return text.split(separator: "\n").compactMap { UInt64($0, radix: 16) }
    }

    /// Writes into the source tree, next to this file's directory.
    static func write(_ fingerprints: [UInt64], group: CaseGroup, seed: UInt64) throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Expectations").appendingPathComponent(fileName(group, seed: seed))
        try fingerprints.map { String($0, radix: 16) }.joined(separator: "\n").appending("\n")
            .write(to: url, atomically: true, encoding: .utf8)
    }
}
