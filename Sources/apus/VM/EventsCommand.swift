import ApusAPI
import ApusClient
import ArgumentParser

struct EventsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "Follow lifecycle events (defined, started, paused, suspended, crashed, ...) as they happen.",
        discussion: """
            One line per event: sequence, time, VM, event, new state, reason (tab-separated), or one JSON object per \
            line with --json. --since N first replays the buffered events after sequence N, so a script that \
            remembers the last sequence it saw misses nothing across reconnects.
            """)

    @OptionGroup var daemon: DaemonOptions
    @Option(help: "Replay buffered events after this sequence number first.") var since: UInt64?
    @Option(help: "Exit after this many events.") var count: Int?

    func validate() throws {
        if let count, count < 1 { throw ValidationError("--count must be at least 1") }
    }

    func run() throws {
        var seen = 0
        try talkingToDaemon {
            try daemon.client.events(since: since) { event in
                printOut(daemon.json ? compactJSON(event) : VMTable.event(event))
                seen += 1
                return count.map { seen < $0 } ?? true
            }
        }
    }

    private func compactJSON(_ event: LifecycleEvent) -> String {
        VMTable.json(event).split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ") + "\n"
    }
}
