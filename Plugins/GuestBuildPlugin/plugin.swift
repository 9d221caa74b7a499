import Foundation
import PackagePlugin

/// Assembles every guest under guests/ with the toolchain's clang and ld.lld and embeds the images in the target
/// (as a generated Swift file), so the built-in guests exist right after `swift build` with nothing prebuilt committed.
@main
struct GuestBuildPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        let guests = context.package.directoryURL.appending(path: "guests")
        let entries = try FileManager.default.contentsOfDirectory(at: guests, includingPropertiesForKeys: nil)
        let sources = entries.filter { $0.pathExtension == "S" }.sorted { $0.path < $1.path }
        let includes = try FileManager.default.contentsOfDirectory(
            at: guests.appending(path: "include"), includingPropertiesForKeys: nil)
        let output = context.pluginWorkDirectoryURL.appending(path: "GuestImages.swift")
        let tool = try context.tool(named: "apus-guest-build")
        let toolchain = try [context.tool(named: "clang"), context.tool(named: "ld.lld")]
        return [.buildCommand(
            displayName: "Assembling \(sources.count) guests with clang",
            executable: tool.url,
            arguments: ["--clang", toolchain[0].url.path, "--lld", toolchain[1].url.path,
                        "--include", guests.appending(path: "include").path,
                        "--work", context.pluginWorkDirectoryURL.path, "--output", output.path]
                + sources.map(\.path),
            inputFiles: sources + includes,
            outputFiles: [output])]
    }
}
