import ApusAPI
import ApusVMM
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The worker process of one VM (`apusd worker`): reads its start from the socketpair on descriptor 3, locks itself
/// down, runs the machine and answers the daemon's requests until the run ends, then exits. If the daemon goes away
/// the worker stops its machine and exits too.
public enum VMWorker {
    /// Set only by tests: console input containing this text makes the worker crash, to test that path.
    static let crashHookVariable = "APUS_TEST_WORKER_CRASH_ON_INPUT"

    public static func run() -> Never {
        let channel = WorkerChannel(descriptor: WorkerProtocol.channelDescriptor)
        let start: WorkerStart
        do {
            start = try channel.receive(WorkerStart.self)
        } catch {
            fail("cannot read the start from the daemon: \(error)")
        }
        guard start.version == WorkerProtocol.version else {
            report(failure: .internal("worker speaks protocol \(WorkerProtocol.version), the daemon \(start.version)"),
                   on: channel)
        }
        DescriptorHygiene.closeAll(except: [0, 1, 2, WorkerProtocol.channelDescriptor] + start.passedDescriptors)
        var sandboxProblems = WorkerSandbox.apply(guestMemoryMiB: start.definition.memoryMiB,
                                                  handedOverDescriptors: start.passedDescriptors.count)
        let console = WorkerConsoleOutput(channel: channel)
        let machine: Machine
        do {
            machine = try build(start, console: console)
            // From here on only the calls a running machine makes: the guest runs only after this.
            do {
                try WorkerSystemCalls.filter().install()
            } catch {
                sandboxProblems.append("\(error)")
            }
            try machine.start()
            if start.restoreFrom != nil { try machine.resume() }
        } catch {
            report(failure: error as? DaemonError ?? .unprocessable("cannot start VM '\(start.definition.name)': \(error)"),
                   on: channel)
        }
        if !sandboxProblems.isEmpty {
            FileHandle.standardError.write(Data("apusd worker \(start.vm): \(sandboxProblems.joined(separator: "; "))\n".utf8))
        }
        try? channel.send(WorkerReport.reply(WorkerReply(id: 0, backend: machine.backendName, backendNote: machine.backendNote,
                                                          stats: stats(of: machine))))
        watch(machine, console: console, channel: channel)
        serve(machine, name: start.definition.name, channel: channel)
    }

    /// The machine, built but not started (nothing of the guest has run yet).
    private static func build(_ start: WorkerStart, console: WorkerConsoleOutput) throws -> Machine {
        if let directory = start.restoreFrom {
            return try Machine.restore(from: URL(fileURLWithPath: directory), output: console,
                                       backend: try BootPreparation.backend(of: start.definition),
                                       handedOverDisks: Dictionary(start.disks.map { ($0.path, $0.chain) },
                                                                   uniquingKeysWith: { first, _ in first }))
        }
        // The worker opens no path: boot files and disks come as the daemon's descriptors.
        let configuration = try BootPreparation(imageRoots: .none, clonesDirectory: "/nonexistent")
            .configuration(for: start.definition, files: PassedBootFiles(files: start.bootFiles),
                           handedOverDisks: start.disks.map(\.attachment))
        return try Machine(configuration: configuration, output: console)
    }

    /// Reports the end of the run (after the console output before it) and exits.
    private static func watch(_ machine: Machine, console: WorkerConsoleOutput, channel: WorkerChannel) {
        let watcher = Thread {
            let outcome = machine.waitForOutcome()
            console.flush()
            try? channel.send(WorkerReport.ended(WireOutcome(outcome)))
            exit(0)
        }
        watcher.name = "apus-worker-watch"
        watcher.start()
        let reporter = Thread {
            while true {
                Thread.sleep(forTimeInterval: 1)
                try? channel.send(WorkerReport.stats(stats(of: machine)))
            }
        }
        reporter.name = "apus-worker-stats"
        reporter.start()
    }

    /// Answers requests until the daemon closes the channel (or sends garbage): then the machine stops.
    private static func serve(_ machine: Machine, name: String, channel: WorkerChannel) -> Never {
        let crashHook = ProcessInfo.processInfo.environment[crashHookVariable].flatMap { $0.isEmpty ? nil : Data($0.utf8) }
        while true {
            let request: WorkerRequest
            do {
                request = try channel.receive(WorkerRequest.self)
            } catch {
                machine.stop()
                _ = machine.waitForOutcome()
                exit(0)
            }
            var reply = WorkerReply(id: request.id)
            do {
                switch request.action {
                case .pause: try machine.pause()
                case .resume: try machine.resume()
                case .stop: machine.stop()
                case .suspend(let directory):
                    do {
                        try machine.suspend(to: URL(fileURLWithPath: directory))
                    } catch {
                        throw VMController.suspendFailure(error, name: name)
                    }
                case .consoleInput(let bytes):
                    if let crashHook, bytes.range(of: crashHook) != nil { fatalError("test fault: crash requested") }
                    reply.accepted = machine.sendConsoleInput(Array(bytes))
                }
            } catch {
                reply.failure = WireFailure(error)
            }
            reply.stats = stats(of: machine)
            try? channel.send(WorkerReport.reply(reply))
        }
    }

    private static func stats(of machine: Machine) -> WorkerStats {
        WorkerStats(paused: machine.isPaused, exits: machine.exitCounts)
    }

    private static func report(failure: DaemonError, on channel: WorkerChannel) -> Never {
        try? channel.send(WorkerReport.reply(WorkerReply(id: 0, failure: WireFailure(failure))))
        exit(1)
    }

    private static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("apusd worker: \(message)\n".utf8))
        exit(2)
    }
}
