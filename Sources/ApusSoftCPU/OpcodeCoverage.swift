/// Every entry of the opcode maps run on the software CPU in each mode where the map lists it, classified, and the
/// Markdown report (docs/OPCODE-COVERAGE.md) made from that.
public struct OpcodeCoverage: Sendable {
    public enum Status: Equatable, Sendable {
        case implemented
        /// Reserved by the map and #UD on the software CPU, as on hardware.
        case undefinedByArchitecture
        /// Valid by the map, #UD on the software CPU.
        case notImplemented
        /// Reserved by the map, yet the software CPU executes it (hardware would give #UD).
        case executesReserved
    }

    public struct Result: Sendable {
        public let entry: OpcodeMapEntry
        public let column: Column
        public var mode: CPUModes { column.mode }
        public let outcome: OpcodeProbe.Outcome
        public let status: Status
    }

    /// One column of the report: a mode of the map, and for protected mode the code segment's size.
    public struct Column: Sendable, Equatable {
        public let mode: CPUModes
        public let name: String
        public let sixteenBitCode: Bool
    }

    public static let columns = [
        Column(mode: .real, name: "real", sixteenBitCode: false),
        Column(mode: .protected, name: "protected 16-bit", sixteenBitCode: true),
        Column(mode: .protected, name: "protected 32-bit", sixteenBitCode: false),
        Column(mode: .long64, name: "64-bit", sixteenBitCode: false),
    ]
    public let model: CPUModel
    public let results: [Result]

    public init(model: CPUModel = .default) throws {
        self.model = model
        let probe = try OpcodeProbe(model: model)
        var results: [Result] = []
        for entry in OpcodeMap.entries where entry.feature != .prefix {
            for column in Self.columns where entry.modes.contains(column.mode) {
                let outcome = try probe.run(entry.encoding, in: column.mode, sixteenBitCode: column.sixteenBitCode)
                let status: Status = entry.isReserved
                    ? (outcome.isInvalidOpcode ? .undefinedByArchitecture : .executesReserved)
                    : (outcome.isInvalidOpcode ? .notImplemented : .implemented)
                results.append(Result(entry: entry, column: column, outcome: outcome, status: status))
            }
        }
        self.results = results
    }

    /// The report, byte for byte what docs/OPCODE-COVERAGE.md holds.
    public var markdown: String {
        var lines = [
            "# Opcode coverage of the software CPU",
            "",
            "Generated; do not edit. Regenerate with",
            "`APUS_WRITE_OPCODE_COVERAGE=1 swift test --skip-build --filter OpcodeCoverageTests` (the test",
            "`theReportOnDiskIsCurrent` fails while this file differs from what the generator produces).",
            "",
            "Each entry of the opcode maps in Sources/ApusSoftCPU/OpcodeMap*.swift (written from the Intel SDM Vol. 2",
            "Appendix A) is run once on a fresh software CPU core (OpcodeProbe: CPL 0, flat segments, SSE enabled, the",
            "memory form of ModRM addressing 0) in each mode where the map lists it (protected mode with a 16-bit and",
            "with a 32-bit code segment), and classified:",
            "`ok` implemented (it ran, or raised a fault other than #UD); `#UD` #UD by architecture, as on hardware;",
            "**`NOT IMPLEMENTED`** the map calls it valid but the core raises #UD; **`EXECUTES`** the map calls it",
            "reserved but the core runs it. A blank cell: the entry is not listed for that mode (another entry is).",
            "Prefixes and map escapes are not instructions and are not listed. VEX-encoded instructions (AVX, BMI1,",
            "BMI2, FMA) are covered by the C4/C5 entries only.",
            "",
            "CPU model: \(model.vendor) \"\(model.brand)\", signature \(hex32(model.signature)).",
            "",
            "## Summary",
            "",
            "| Status | Entries x modes |",
            "|---|---|",
        ]
        for (status, name) in [(Status.implemented, "implemented"), (.undefinedByArchitecture, "#UD by architecture"),
                               (.notImplemented, "not implemented"), (.executesReserved, "reserved but executes")] {
            lines.append("| \(name) | \(results.filter { $0.status == status }.count) |")
        }
        lines += ["", "### Not implemented, by CPUID feature", "",
                  "| Feature | Advertised by the model | Entries x modes | Mnemonics |", "|---|---|---|---|"]
        for feature in InstructionFeature.allCases {
            let missing = results.filter { $0.status == .notImplemented && $0.entry.feature == feature }
            guard !missing.isEmpty else { continue }
            var names: [String] = []
            for result in missing where !names.contains(result.entry.mnemonic) { names.append(result.entry.mnemonic) }
            let shown = names.prefix(12).joined(separator: ", ") + (names.count > 12 ? ", ..." : "")
            lines.append("| \(feature.rawValue) | \(model.advertises(feature) ? "**yes**" : "no") | \(missing.count) | \(shown) |")
        }
        lines += ["", "### Running although the model does not advertise the feature", "",
                  "Not an error in itself: without TZCNT/LZCNT hardware runs F3 0F BC/BD as BSF/BSR, and the hint",
                  "forms run as no-ops; but a feature whose instructions all run could be advertised.", "",
                  "| Feature | Entries x modes | Mnemonics |", "|---|---|---|"]
        for feature in InstructionFeature.allCases where !model.advertises(feature) && feature != .reserved {
            let running = results.filter { $0.status == .implemented && $0.entry.feature == feature }
            guard !running.isEmpty else { continue }
            var names: [String] = []
            for result in running where !names.contains(result.entry.mnemonic) { names.append(result.entry.mnemonic) }
            lines.append("| \(feature.rawValue) | \(running.count) | \(names.joined(separator: ", ")) |")
        }
        for map in OpcodeMapID.allCases {
            lines += ["", "## " + Self.title(map), "",
                      "| Opcode | Instruction | Feature | LOCK | Real | Protected 16-bit | Protected 32-bit | 64-bit |",
                      "|---|---|---|---|---|---|---|---|"]
            // Results are in map order, each entry's modes together.
            var index = results.startIndex
            for entry in OpcodeMap.entries where entry.map == map && entry.feature != .prefix {
                while index < results.endIndex && results[index].entry.map < map { index += 1 }
                var byMode: [Result] = []
                while index < results.endIndex && results[index].entry == entry { byMode.append(results[index]); index += 1 }
                let cells = Self.columns.map { column -> String in
                    guard let result = byMode.first(where: { $0.column == column }) else { return "" }
                    return Self.cell(result)
                }
                let feature = entry.isReserved ? "-" : entry.feature.rawValue
                let mnemonic = entry.mnemonic.split(separator: "|").joined(separator: "/")
                lines.append("| \(entry.opcodeText) | \(mnemonic) | \(feature) | \(entry.lockable ? "yes" : "") | "
                             + cells.joined(separator: " | ") + " |")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func title(_ map: OpcodeMapID) -> String {
        switch map {
        case .oneByte: return "One-byte map"
        case .twoByte: return "Two-byte map (0F)"
        case .threeByte38: return "Three-byte map 0F 38"
        case .threeByte3A: return "Three-byte map 0F 3A"
        }
    }

    static func cell(_ result: Result) -> String {
        switch result.status {
        case .implemented: return "ok"
        case .undefinedByArchitecture: return "#UD"
        case .notImplemented: return "**NOT IMPLEMENTED**"
        case .executesReserved: return "**EXECUTES**"
        }
    }

    private func hex32(_ value: UInt32) -> String {
        "0x" + (0..<4).reversed().map { hexByte(UInt8(truncatingIfNeeded: value >> (UInt32($0) * 8))) }.joined()
    }
}
