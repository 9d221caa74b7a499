import ApusAPI
import Foundation

/// Human-readable output for `apus vm`: aligned columns, and the API's JSON with --json.
enum VMTable {
    static func render(_ rows: [[String]]) -> String {
        guard let header = rows.first else { return "" }
        var widths = header.map(\.count)
        for row in rows { for (index, cell) in row.enumerated() where index < widths.count { widths[index] = max(widths[index], cell.count) } }
        return rows.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }

    static func list(_ vms: [VMInfo]) -> String {
        render([["NAME", "STATE", "MEMORY", "BACKEND", "BOOT", "ID", "REASON"]] + vms.map { vm in
            [vm.definition.name, vm.state.rawValue, "\(vm.definition.memoryMiB) MiB",
             vm.runningBackend ?? vm.definition.backend, boot(vm.definition.boot), vm.id, vm.reason ?? ""]
        })
    }

    static func show(_ vm: VMInfo) -> String {
        var rows: [[String]] = [
            ["name:", vm.definition.name], ["id:", vm.id], ["state:", vm.state.rawValue],
            ["since:", ISO8601DateFormatter().string(from: vm.since)],
        ]
        if let reason = vm.reason { rows.append(["reason:", reason]) }
        rows += [
            ["memory:", "\(vm.definition.memoryMiB) MiB"], ["vcpus:", "\(vm.definition.vcpus)"],
            ["backend:", vm.runningBackend.map { "\($0) (defined as \(vm.definition.backend))" } ?? vm.definition.backend],
            ["boot:", boot(vm.definition.boot)],
        ]
        for (index, disk) in vm.definition.disks.enumerated() {
            rows.append(["disk \(index):", disk.path + (disk.readOnly ? " (readonly)" : "")])
        }
        if let template = vm.clonedFrom { rows.append(["clone of:", template]) }
        rows += [
            ["allowed:", vm.allowedOperations.map(\.rawValue).joined(separator: ", ")],
        ]
        if let exits = vm.exits {
            rows.append(["exits:", exits.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")])
        }
        return rows.map { $0[0].padding(toLength: 10, withPad: " ", startingAt: 0) + $0[1] }.joined(separator: "\n") + "\n"
    }

    static func event(_ event: LifecycleEvent) -> String {
        let time = ISO8601DateFormatter().string(from: event.time)
        let state = event.state?.rawValue ?? "-"
        return "\(event.sequence)\t\(time)\t\(event.name)\t\(event.kind.rawValue)\t\(state)\(event.reason.map { "\t\($0)" } ?? "")\n"
    }

    static func boot(_ boot: BootSpec) -> String {
        switch boot {
        case .guest(let name): return "guest \(name)"
        case .image(let path): return "image \(path)"
        case .linux(let kernel, _, _): return "kernel \(kernel)"
        }
    }

    static func json(_ value: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return ((try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "null") + "\n"
    }
}

func printOut(_ text: String) {
    FileHandle.standardOutput.write(Data(text.utf8))
}
