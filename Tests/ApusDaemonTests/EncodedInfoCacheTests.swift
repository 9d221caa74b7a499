import ApusAPI
@testable import ApusDaemon
import Foundation
import NIOCore
import Testing

/// The hot read routes hand out cached JSON; it must be, byte for byte, what JSONResponse encodes for the VM now —
/// for every shape of VMInfo, strings that need escaping, and after any field changes.
@Suite struct EncodedInfoCacheTests {
    private static func expected(_ value: some Encodable) throws -> [UInt8] {
        Array(try JSONResponse.encoder.encode(value)) + [0x0A]
    }

    private static func bytes(_ buffer: ByteBuffer) -> [UInt8] { Array(buffer.readableBytesView) }

    /// Strings a path, message or reason may hold: quotes, backslashes, slashes, control characters, non-ASCII.
    static let awkwardStrings = [
        "plain", "", "with \"quotes\"", "back\\slash", "/srv/images/a b.qcow2", "tab\there", "new\nline\r\n",
        "\u{01}\u{1F}\u{7F}", "é ß 日本 🙂", "\u{2028}\u{2029}", "</script>", String(repeating: "x", count: 300),
    ]

    static func samples() -> [VMInfo] {
        var samples: [VMInfo] = []
        let dates = [Date(timeIntervalSince1970: 0), Date(timeIntervalSince1970: 1_765_000_000.123456),
                     Date(timeIntervalSince1970: 4_102_444_799)]
        for (index, text) in awkwardStrings.enumerated() {
            let boot: BootSpec = switch index % 4 {
            case 0: .guest("counter")
            case 1: .image(path: "/images/" + text)
            case 2: .linux(kernel: "/k/" + text, initrd: index % 3 == 0 ? nil : "/i/" + text, commandLine: text)
            default: .image(path: text)
            }
            let definition = VMDefinition(name: "vm\(index)", memoryMiB: 64 << (index % 4), vcpus: 1 + index % 3,
                                          backend: ["auto", "kvm", "soft"][index % 3], boot: boot,
                                          disks: index % 2 == 0 ? [] : [DiskSpec(path: text, readOnly: index % 3 == 0)])
            let state = VMState.allCases[index % VMState.allCases.count]
            let operation = index % 3 == 0 ? nil : OperationRecord(
                id: "op-\(index)", operation: VMOperation.allCases[index % VMOperation.allCases.count],
                status: [.running, .succeeded, .failed, .interrupted][index % 4], message: index % 2 == 0 ? text : nil,
                started: dates[index % 3], finished: index % 2 == 0 ? dates[(index + 1) % 3] : nil)
            samples.append(VMInfo(id: "id-\(index)", definition: definition, state: state,
                                  reason: index % 2 == 0 ? text : nil, since: dates[index % 3],
                                  runningBackend: state == .active || state == .paused ? "kvm" : nil,
                                  exits: index % 2 == 0 ? nil : ["pio": index, "mmio": 1 << index, text: 0],
                                  lastOperation: operation, clonedFrom: index % 5 == 0 ? "template-\(text)" : nil))
        }
        return samples
    }

    @Test func cachedJSONIsWhatTheEncoderMakes() throws {
        let cache = EncodedInfoCache()
        let samples = Self.samples()
        for info in samples {
            #expect(Self.bytes(try cache.body(for: info)) == (try Self.expected(info)), "first: \(info.id)")
            #expect(Self.bytes(try cache.body(for: info)) == (try Self.expected(info)), "cached: \(info.id)")
        }
        #expect(Self.bytes(try cache.listBody(for: samples)) == (try Self.expected(samples)))
        #expect(Self.bytes(try cache.listBody(for: [])) == (try Self.expected([VMInfo]())))
        #expect(Self.bytes(try cache.listBody(for: [samples[3]])) == (try Self.expected([samples[3]])))
    }

    @Test func anyChangeIsEncodedAfresh() throws {
        let cache = EncodedInfoCache()
        let original = Self.samples()[1]
        _ = try cache.body(for: original)
        var changes: [VMInfo] = []
        var changed = original
        changed.state = .active
        changes.append(changed)
        changed = original
        changed.exits = ["pio": 2]
        changes.append(changed)
        changed = original
        changed.since = original.since.addingTimeInterval(1)
        changes.append(changed)
        changed = original
        changed.reason = "crashed: triple fault"
        changes.append(changed)
        changed = original
        changed.definition.name = "renamed"
        changes.append(changed)
        changed = original
        changed.lastOperation?.status = .succeeded
        changes.append(changed)
        for info in changes + [original] {
            #expect(Self.bytes(try cache.body(for: info)) == (try Self.expected(info)))
        }
    }
}
