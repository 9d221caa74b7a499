public import Foundation

/// The (method, path) pairs docs/openapi.yaml documents, read from its `paths:` section.
public enum OpenAPIDocument {
    public static var url: URL {
        // Sources/ApusTesting/OpenAPIDocument.swift -> the package root.
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/openapi.yaml")
    }

    public static func routes() throws -> [(method: String, path: String)] {
        let text = try String(contentsOf: url, encoding: .utf8)
        var routes: [(String, String)] = []
        var inPaths = false
        var current: String?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line == "paths:" { inPaths = true; continue }
            if inPaths && !line.hasPrefix(" ") && !line.isEmpty { break }
            guard inPaths else { continue }
            if line.hasPrefix("  /") && line.hasSuffix(":") && !line.hasPrefix("   ") {
                current = String(line.dropFirst(2).dropLast())
            } else if let current, line.hasPrefix("    "), !line.hasPrefix("     ") {
                let key = line.trimmingCharacters(in: .whitespaces).dropLast()
                if ["get", "post", "put", "delete", "patch"].contains(String(key)) {
                    routes.append((key.uppercased(), current))
                }
            }
        }
        return routes
    }
}
