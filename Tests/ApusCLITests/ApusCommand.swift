import ApusTesting
import Foundation

/// Runs the `apus` executable built next to the test bundle and collects its exit status and output.
enum ApusCommand {
    static var executable: URL { CommandRunner.executable("apus") }

    static func run(_ arguments: [String]) throws -> CommandRunner.Result {
        try CommandRunner.run("apus", arguments)
    }
}
