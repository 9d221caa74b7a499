import ApusCore
import ApusClient
import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif

struct ConsoleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "console",
        abstract: "Attach to a VM's serial console (Ctrl-] detaches).",
        discussion: """
            Shows the buffered output first (the last 64 KiB; --no-replay skips it), then live output. Keystrokes go \
            to the guest's COM1 UART; on a terminal the line is raw, so Ctrl-C reaches the guest, and Ctrl-] (the \
            detach key) leaves the VM running. Without a terminal, standard input is forwarded until it ends.
            --no-follow prints the buffered output and exits.
            """)

    /// Ctrl-], as telnet and virsh use it.
    static let detachKey: UInt8 = 0x1D

    @OptionGroup var daemon: DaemonOptions
    @Argument(help: "The VM's name or id.") var vm: String
    @Flag(inversion: .prefixedNo, help: "Keep streaming live output.") var follow = true
    @Flag(inversion: .prefixedNo, help: "Show the buffered output first.") var replay = true

    func run() throws {
        let client = daemon.client
        guard follow else {
            let backlog = try talkingToDaemon { try client.consoleBacklog(vm) }
            FileHandle.standardOutput.write(Data(backlog))
            return
        }
        _ = try talkingToDaemon { try client.show(vm) }
        let terminal = RawTerminal.enter()
        if terminal != nil {
            FileHandle.standardError.write(Data("Connected to \(vm)'s console; Ctrl-] detaches.\r\n".utf8))
        }
        startInputForwarding(client: client, terminal: terminal)
        defer { terminal?.restore() }
        try talkingToDaemon {
            try client.followConsole(vm, replay: replay) { bytes in
                FileHandle.standardOutput.write(Data(bytes))
                return true
            }
        }
        terminal?.restore()
        FileHandle.standardError.write(Data("\napus: the console of \(vm) closed (the VM was undefined or apusd stopped)\n".utf8))
    }

    private func startInputForwarding(client: ApusAPIClient, terminal: RawTerminal?) {
        let vm = self.vm
        let thread = Thread {
            var buffer = [UInt8](repeating: 0, count: 256)
            while true {
                let count = buffer.withUnsafeMutableBytes { bytes in
                    SystemCall.retryingInterrupts { read(STDIN_FILENO, bytes.baseAddress, 256) }
                }
                guard count > 0 else { return }
                var bytes = Array(buffer[0..<count])
                if terminal != nil, let detach = bytes.firstIndex(of: Self.detachKey) {
                    bytes = Array(bytes[..<detach])
                    if !bytes.isEmpty { _ = try? client.sendConsole(vm, bytes: bytes) }
                    terminal?.restore()
                    FileHandle.standardError.write(Data("\napus: detached from \(vm); it keeps running\n".utf8))
                    Glibc.exit(0)
                }
                do {
                    _ = try client.sendConsole(vm, bytes: bytes)
                } catch {
                    terminal?.restore()
                    FileHandle.standardError.write(Data("\napus: \(error)\n".utf8))
                    Glibc.exit(1)
                }
            }
        }
        thread.start()
    }
}

/// The terminal in raw mode while attached, restored on detach or exit.
final class RawTerminal: @unchecked Sendable {
    // @unchecked: `saved` is written once in `enter` and only read afterwards.
    private var saved = termios()

    static func enter() -> RawTerminal? {
        guard isatty(STDIN_FILENO) == 1 else { return nil }
        let terminal = RawTerminal()
        guard tcgetattr(STDIN_FILENO, &terminal.saved) == 0 else { return nil }
        var raw = terminal.saved
        cfmakeraw(&raw)
        raw.c_oflag |= tcflag_t(OPOST | ONLCR)
        guard tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0 else { return nil }
        return terminal
    }

    func restore() {
        var saved = self.saved
        tcsetattr(STDIN_FILENO, TCSANOW, &saved)
    }
}
