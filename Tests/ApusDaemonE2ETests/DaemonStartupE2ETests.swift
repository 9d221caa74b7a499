import ApusClient
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// How apusd starts: one instance per state directory and socket, a 0660 socket, clear refusals.
@Suite struct DaemonStartupE2ETests {
    private func runApusd(_ arguments: [String]) throws -> (status: Int32, errors: String) {
        let process = Process()
        process.executableURL = DaemonProcess.executable("apusd")
        process.arguments = arguments
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let data = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test func aSecondDaemonRefusesInsteadOfTakingOver() throws {
        let directory = try DaemonProcess.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let daemon = DaemonProcess(directory: directory)
        try daemon.start()
        let sameState = try runApusd(["--socket", directory + "/other.sock", "--state-dir", daemon.stateDirectory])
        #expect(sameState.status == 1)
        #expect(sameState.errors.contains("another apusd"), "\(sameState.errors)")
        let sameSocket = try runApusd(["--socket", daemon.socketPath, "--state-dir", directory + "/other-state"])
        #expect(sameSocket.status == 1)
        #expect(sameSocket.errors.contains("already uses socket"), "\(sameSocket.errors)")
        // The first daemon still serves.
        #expect(try daemon.client.list().isEmpty)

        var status = stat()
        #expect(stat(daemon.socketPath, &status) == 0)
        #expect(status.st_mode & 0o777 == 0o660)
        #expect(daemon.terminate() == 0)
    }

    @Test func refusesToReplaceAFileThatIsNotASocket() throws {
        let directory = try DaemonProcess.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/precious.txt"
        _ = FileManager.default.createFile(atPath: path, contents: Data("keep me".utf8))
        let result = try runApusd(["--socket", path, "--state-dir", directory + "/state"])
        #expect(result.status == 1)
        #expect(result.errors.contains("is not a socket"))
        #expect(FileManager.default.contents(atPath: path) == Data("keep me".utf8))
    }
}
