import ApusClient
import ArgumentParser
import Foundation

/// Options every `apus vm` command shares: where apusd listens and whether to print JSON.
struct DaemonOptions: ParsableArguments {
    static let defaultSocket = "/run/apus/apusd.sock"

    @Option(help: ArgumentHelp("apusd's socket (default: $APUS_SOCKET, else \(DaemonOptions.defaultSocket)).",
                               valueName: "path"))
    var socket: String?

    @Flag(help: "Print JSON (the API's own format) instead of a table, for scripts.")
    var json = false

    var socketPath: String {
        socket ?? ProcessInfo.processInfo.environment["APUS_SOCKET"] ?? Self.defaultSocket
    }

    var client: ApusAPIClient { ApusAPIClient(socketPath: socketPath) }
}

/// Runs a client call and turns its failure into one line on stderr and exit status 1.
func talkingToDaemon<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as ClientError {
        FileHandle.standardError.write(Data("apus: \(error)\n".utf8))
        throw ExitCode(1)
    }
}
