import ApusTesting
import Foundation
import Testing

/// ApusVMM must be usable by another package that depends on this repository by version: that is the case where
/// SwiftPM refuses a product whose targets carry unsafe flags ("contains unsafe build flags"), and a local or
/// branch dependency would not show it. These tests build throw-away git repositories and packages in a temporary
/// directory and run the same `swift package` commands a consumer's first build runs.
@Suite struct VersionedDependencyTests {
    /// A package depending on this repository at tag 1.0.0 (HEAD, with the working tree's Package.swift) resolves,
    /// and loading its package graph, which is where SwiftPM checks for unsafe flags, succeeds.
    @Test func aConsumerDependingOnApusVMMByVersionLoadsItsGraph() throws {
        guard let tools = SwiftPackageTools.find(for: "aConsumerDependingOnApusVMMByVersionLoadsItsGraph") else { return }
        let work = try ThrowawayDirectory("apus-versioned-dependency")
        defer { work.remove() }

        let apus = work.path + "/apus"
        try tools.git(["clone", "--quiet", "--no-checkout", ImportRuleTests.root.path, apus])
        let head = try tools.git(["-C", ImportRuleTests.root.path, "rev-parse", "HEAD"])
        try tools.git(["-C", apus, "checkout", "--quiet", "--detach", head])
        // What is being tested is the manifest as it stands in the working tree, committed or not.
        let manifest = try String(contentsOf: ImportRuleTests.root.appendingPathComponent("Package.swift"), encoding: .utf8)
        try manifest.write(toFile: apus + "/Package.swift", atomically: true, encoding: .utf8)
        try tools.tag(apus, "1.0.0")

        let consumer = try Self.writeConsumer(in: work.path, dependingOn: apus, product: "ApusVMM", package: "apus")
        let scratch = work.path + "/scratch"
        let resolved = try tools.swift(["package", "--package-path", consumer, "--scratch-path", scratch, "resolve"])
        #expect(resolved.status == 0, "swift package resolve failed:\n\(resolved.output)")
        guard resolved.status == 0 else { return }
        let graph = try tools.swift(["package", "--package-path", consumer, "--scratch-path", scratch, "show-dependencies"])
        #expect(graph.status == 0 && !graph.output.contains("unsafe build flags"),
                "a versioned dependency on ApusVMM is refused:\n\(graph.output)")
        guard graph.status == 0 else { return }
        #expect(graph.output.contains("\(apus)@1.0.0>"), "the graph does not show apus at 1.0.0:\n\(graph.output)")
    }

    /// The check the test above relies on is real: a package whose manifest is at tools version 6.0 with an unsafe
    /// flag is refused by the same commands, and the same package at tools version 6.2 (from which SwiftPM no longer
    /// counts unsafe flags against a versioned dependency) is accepted.
    @Test func showDependenciesRefusesUnsafeFlagsBelowToolsVersion6_2() throws {
        guard let tools = SwiftPackageTools.find(for: "showDependenciesRefusesUnsafeFlagsBelowToolsVersion6_2") else { return }
        let work = try ThrowawayDirectory("apus-unsafe-flags-rule")
        defer { work.remove() }
        for (toolsVersion, refused) in [("6.0", true), ("6.2", false)] {
            let flagged = work.path + "/flagged-\(toolsVersion)"
            try FileManager.default.createDirectory(atPath: flagged + "/Sources/Flagged", withIntermediateDirectories: true)
            try """
            // swift-tools-version:\(toolsVersion)
            import PackageDescription
            let package = Package(
                name: "Flagged",
                products: [.library(name: "Flagged", targets: ["Flagged"])],
                targets: [.target(name: "Flagged", swiftSettings: [.unsafeFlags(["-O"], .when(configuration: .debug))])]
            )
            """.write(toFile: flagged + "/Package.swift", atomically: true, encoding: .utf8)
            try "public let flagged = 1\n".write(toFile: flagged + "/Sources/Flagged/Flagged.swift", atomically: true,
                                                 encoding: .utf8)
            try tools.git(["init", "--quiet", flagged])
            try tools.tag(flagged, "1.0.0")
            let consumer = try Self.writeConsumer(in: work.path + "/consumer-\(toolsVersion)", dependingOn: flagged,
                                                  product: "Flagged", package: "flagged-\(toolsVersion)")
            let graph = try tools.swift(["package", "--package-path", consumer,
                                         "--scratch-path", work.path + "/scratch-\(toolsVersion)", "show-dependencies"])
            if refused {
                #expect(graph.status != 0 && graph.output.contains("contains unsafe build flags"),
                        "tools \(toolsVersion): expected the refusal, got status \(graph.status):\n\(graph.output)")
            } else {
                #expect(graph.status == 0, "tools \(toolsVersion): expected no refusal:\n\(graph.output)")
            }
        }
    }

    /// A package with one executable target that imports `product`, depending on the git repository at `repository`
    /// by exact version 1.0.0. Returns its directory.
    static func writeConsumer(in directory: String, dependingOn repository: String, product: String,
                              package: String) throws -> String {
        let consumer = directory + "/consumer"
        try FileManager.default.createDirectory(atPath: consumer + "/Sources/Consumer", withIntermediateDirectories: true)
        try """
        // swift-tools-version:6.0
        import PackageDescription
        let package = Package(
            name: "Consumer",
            dependencies: [.package(url: "file://\(repository)", exact: "1.0.0")],
            targets: [.executableTarget(name: "Consumer",
                                        dependencies: [.product(name: "\(product)", package: "\(package)")])]
        )
        """.write(toFile: consumer + "/Package.swift", atomically: true, encoding: .utf8)
        try "import \(product)\n".write(toFile: consumer + "/Sources/Consumer/main.swift", atomically: true, encoding: .utf8)
        return consumer
    }
}

/// `swift` and `git` from PATH, run with their output collected.
struct SwiftPackageTools {
    let swift: String
    let git: String

    /// Both tools, or nil after printing why `test` is skipped.
    static func find(for test: String) -> SwiftPackageTools? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        func lookUp(_ name: String) -> String? {
            path.split(separator: ":").map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
        }
        guard let swift = lookUp("swift") else {
            print("\(test): skipped: no `swift` on PATH to load a consumer package with")
            return nil
        }
        guard let git = lookUp("git") else {
            print("\(test): skipped: no `git` on PATH to make a versioned repository with")
            return nil
        }
        guard FileManager.default.fileExists(atPath: ImportRuleTests.root.appendingPathComponent(".git").path) else {
            print("\(test): skipped: \(ImportRuleTests.root.path) is not a git checkout")
            return nil
        }
        return SwiftPackageTools(swift: swift, git: git)
    }

    /// Runs git; throws with its output when it fails. Returns its output, trimmed.
    @discardableResult
    func git(_ arguments: [String]) throws -> String {
        let result = try CommandRunner.runTool(git, arguments)
        guard result.status == 0 else {
            throw Problem("git \(arguments.joined(separator: " ")) failed (status \(result.status)): \(result.output)")
        }
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Commits whatever changed in the work tree at `repository` (if anything) and tags the result `version`.
    func tag(_ repository: String, _ version: String) throws {
        let identity = ["-c", "user.name=Apus tests", "-c", "user.email=apus-tests@localhost"]
        try git(["-C", repository, "add", "--all"])
        if try !git(["-C", repository, "status", "--porcelain"]).isEmpty {
            try git(["-C", repository] + identity + ["commit", "--quiet", "--no-verify", "-m", "as tested"])
        }
        try git(["-C", repository] + identity + ["tag", version])
    }

    func swift(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try CommandRunner.runTool(swift, arguments)
    }

}

/// A fresh directory under the temporary directory, removed by `remove()`.
struct ThrowawayDirectory {
    let path: String

    init(_ prefix: String) throws {
        path = NSTemporaryDirectory() + "\(prefix)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}
