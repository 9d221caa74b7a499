import Foundation
import Testing

/// The allowed-imports table in docs/ARCHITECTURE.md and the dependencies declared in Package.swift are the rules;
/// this reads both at test time (so rows added later are checked too) and every `import` in Sources/ against them.
@Suite struct ImportRuleTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// Names the table may use for a group of modules: a package, or the C library by any platform's name.
    static let aliases: [String: Set<String>] = [
        "libc": ["Glibc", "Darwin", "Musl"],
        "Glibc": ["Glibc", "Darwin", "Musl"],
        "Swift standard library": ["Swift"],
        "swift-log": ["Logging"],
        "swift-argument-parser": ["ArgumentParser"],
        "swift-service-lifecycle": ["ServiceLifecycle"],
        "swift-prometheus": ["Prometheus"],
        "swift-system": ["SystemPackage"],
    ]

    /// Modules every Swift target gets from the toolchain without declaring them.
    static let toolchainModules: Set<String> = ["Swift", "Foundation", "Glibc", "Darwin", "Musl", "Synchronization",
                                                "Dispatch", "_Concurrency", "FoundationEssentials"]

    /// `module -> allowed names`, from the table under "## Allowed imports".
    static func table() throws -> [String: Set<String>] {
        let text = try String(contentsOf: root.appendingPathComponent("docs/ARCHITECTURE.md"), encoding: .utf8)
        guard let start = text.range(of: "## Allowed imports") else { throw Problem("ARCHITECTURE.md has no 'Allowed imports' section") }
        var rows: [String: Set<String>] = [:]
        for line in text[start.upperBound...].split(separator: "\n") {
            if line.hasPrefix("## ") { break }
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 4, !cells[1].isEmpty, cells[1] != "module", !cells[1].hasPrefix("-") else { continue }
            let module = cells[1].replacingOccurrences(of: "`", with: "")
            rows[module] = allowedNames(cells[2])
        }
        return rows
    }

    /// "ApusCore, CHostFPU (floating-point only), Glibc (the TSC's clock); no Foundation" -> its module names: each
    /// comma-separated entry up to a note in parentheses, with everything after ';' (prose) left out.
    static func allowedNames(_ cell: String) -> Set<String> {
        var names: Set<String> = []
        let rules = cell.split(separator: ";").first.map(String.init) ?? ""
        var depth = 0
        var entry = ""
        func flush() {
            let name = entry.replacingOccurrences(of: "`", with: "").trimmingCharacters(in: .whitespaces)
            if !name.isEmpty {
                names.insert(name)
                names.formUnion(aliases[name] ?? [])
            }
            entry = ""
        }
        for character in rules {
            switch character {
            case "(": depth += 1
            case ")": depth -= 1
            case "," where depth == 0: flush()
            default: if depth == 0 { entry.append(character) }
            }
        }
        flush()
        return names
    }

    /// Every module a target's sources import (any access level, inside #if or not).
    static func imports(ofTargetAt directory: URL) throws -> [String: [String]] {
        var found: [String: [String]] = [:]
        guard let files = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: nil) else { return [:] }
        let pattern = try NSRegularExpression(
            pattern: #"^\s*(?:@[A-Za-z_]+\s+)*(?:(?:public|package|internal|fileprivate|private)\s+)?import\s+(?:(?:struct|class|enum|protocol|func|var|let|typealias)\s+)?([A-Za-z_][A-Za-z0-9_]*)"#,
            options: [.anchorsMatchLines])
        for case let file as URL in files where file.pathExtension == "swift" {
            let text = try String(contentsOf: file, encoding: .utf8)
            let range = NSRange(text.startIndex..., in: text)
            for match in pattern.matches(in: text, range: range) {
                guard let name = Range(match.range(at: 1), in: text).map({ String(text[$0]) }) else { continue }
                found[name, default: []].append(file.lastPathComponent)
            }
        }
        return found
    }

    /// `target -> declared dependency module names` from `swift package dump-package`, run with its own scratch
    /// directory (the `swift test` running this holds the package's .build lock).
    static func declaredDependencies() throws -> [String: (path: String?, dependencies: Set<String>)] {
        let scratch = NSTemporaryDirectory() + "apus-dump-package-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["swift", "package", "dump-package", "--package-path", root.path, "--scratch-path", scratch]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0,
              let package = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let targets = package["targets"] as? [[String: Any]] else {
            throw Problem("swift package dump-package failed (status \(process.terminationStatus))")
        }
        var result: [String: (String?, Set<String>)] = [:]
        for target in targets {
            guard let name = target["name"] as? String, target["type"] as? String != "test" else { continue }
            var dependencies: Set<String> = []
            for dependency in target["dependencies"] as? [[String: Any]] ?? [] {
                // {"byName": [name, nil]}, {"target": [name, nil]} or {"product": [name, package, ...]}
                for key in ["byName", "target", "product"] {
                    if let value = dependency[key] as? [Any], let first = value.first as? String { dependencies.insert(first) }
                }
            }
            result[name] = (target["path"] as? String, dependencies)
        }
        return result
    }

    @Test func everyImportIsAllowedByTheTableAndDeclaredInThePackage() throws {
        let table = try Self.table()
        let declared = try Self.declaredDependencies()
        #expect(table.count >= 10, "the table was not read: \(table.keys.sorted())")
        var checked = 0
        let sources = Self.root.appendingPathComponent("Sources")
        for module in try FileManager.default.contentsOfDirectory(atPath: sources.path).sorted() {
            let directory = sources.appendingPathComponent(module)
            let imports = try Self.imports(ofTargetAt: directory)
            guard !imports.isEmpty || table[module] != nil else { continue }
            guard let allowed = table[module] else {
                Issue.record("Sources/\(module) is not in docs/ARCHITECTURE.md's allowed-imports table")
                continue
            }
            let dependencies = declared[module]?.dependencies ?? []
            for (name, files) in imports.sorted(by: { $0.key < $1.key }) where name != module {
                #expect(allowed.contains(name),
                        "\(module) imports \(name) (\(files.joined(separator: ", "))), which the table does not allow (allowed: \(allowed.sorted().joined(separator: ", ")))")
                if !Self.toolchainModules.contains(name) {
                    #expect(dependencies.contains(name),
                            "\(module) imports \(name) (\(files.joined(separator: ", "))) without declaring it in Package.swift")
                }
            }
            checked += 1
        }
        #expect(checked >= 10)
    }

    @Test func theTableReaderUnderstandsItsNotes() {
        #expect(Self.allowedNames("ApusCore, CHostFPU (floating-point instructions only), Glibc (the TSC's clock); no Foundation")
                == ["ApusCore", "CHostFPU", "Glibc", "Darwin", "Musl"])
        #expect(Self.allowedNames("`ApusDaemon`, swift-log") == ["ApusDaemon", "swift-log", "Logging"])
        #expect(Self.allowedNames("nothing (generated data)") == ["nothing"])
    }
}

struct Problem: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
