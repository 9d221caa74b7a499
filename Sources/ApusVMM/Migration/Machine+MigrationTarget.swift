import ApusCore
public import ApusDevices
public import Foundation

extension Machine {
    /// Receives a machine sent by `migrate(over:)` on the connected stream socket `fd`: its memory and state are
    /// written to `stagingDirectory` as a complete snapshot (crash-safe, in the suspend format), rebuilt from there
    /// with `restore(from:)`, and the guest resumed here only when the source commits. Whatever fails before the
    /// commit — a malformed stream, a layout or backend this host cannot run, a lost connection — is sent back as
    /// the reason (when the connection still works) and thrown, and the source resumes its copy.
    public static func receiveMigration(over fd: Int32, stagingDirectory: URL, output: any SerialOutput,
                                        backend: BackendChoice? = nil) throws -> Machine {
        let channel = MigrationChannel(fd: fd)
        do {
            let (type, payload) = try channel.receive()
            guard type == .hello else { throw MigrationError.protocolError("expected hello, got \(type)") }
            let hello: MigrationHello
            do {
                hello = try JSONDecoder().decode(MigrationHello.self, from: Data(payload))
            } catch {
                throw MigrationError.protocolError("the hello record is not readable (\(error))")
            }
            guard hello.formatVersion == MigrationChannel.formatVersion else {
                throw MigrationError.incompatible("the source speaks migration format \(hello.formatVersion), this "
                                                  + "build \(MigrationChannel.formatVersion)")
            }
            let files = try MemoryFiles(layout: hello.regions.map { ($0.start, $0.size) },
                                        directory: stagingDirectory.path)
            let machine: Machine
            do {
                let snapshot = try receivePages(into: files, over: channel)
                try files.finish()
                try SnapshotDirectory.commit(snapshot, memoryFiles: files)
                machine = try restore(from: stagingDirectory, output: output, backend: backend)
            } catch {
                files.discard()
                throw error
            }
            do {
                try machine.start()
                try channel.send(.ready)
                let (decision, reason) = try channel.receive()
                switch decision {
                case .commit: break
                case .abort: throw MigrationError.aborted(String(decoding: reason, as: UTF8.self))
                default: throw MigrationError.protocolError("expected commit, got \(decision)")
                }
                try machine.resume()
                try channel.send(.running)
            } catch {
                machine.stop()
                _ = machine.waitForOutcome()
                throw error
            }
            return machine
        } catch {
            try? channel.send(.abort, Array("\(error)".utf8))
            throw error
        }
    }

    /// Writes `pages` and `zeroPages` records into `files` until the `state` record, which it returns decoded.
    private static func receivePages(into files: MemoryFiles, over channel: MigrationChannel) throws -> MachineSnapshot {
        let zeroPage = [UInt8](repeating: 0, count: MemoryFiles.pageSize)
        while true {
            let (type, payload) = try channel.receive()
            switch type {
            case .pages:
                let stride = 8 + MemoryFiles.pageSize
                guard payload.count % stride == 0 else {
                    throw MigrationError.protocolError("a pages record of \(payload.count) bytes")
                }
                try payload.withUnsafeBytes { bytes in
                    for offset in Swift.stride(from: 0, to: bytes.count, by: stride) {
                        let page = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
                        try files.write(page: page, UnsafeRawBufferPointer(rebasing: bytes[offset + 8..<offset + stride]))
                    }
                }
            case .zeroPages:
                guard payload.count % 8 == 0 else {
                    throw MigrationError.protocolError("a zero-pages record of \(payload.count) bytes")
                }
                try payload.withUnsafeBytes { bytes in
                    try zeroPage.withUnsafeBytes { zeros in
                        for offset in Swift.stride(from: 0, to: bytes.count, by: 8) {
                            try files.write(page: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset,
                                                                                           as: UInt64.self)), zeros)
                        }
                    }
                }
            case .state:
                do {
                    return try JSONDecoder().decode(MachineSnapshot.self, from: Data(payload))
                } catch {
                    throw MigrationError.protocolError("the machine state is not readable (\(error))")
                }
            case .abort:
                throw MigrationError.aborted(String(decoding: payload, as: UTF8.self))
            default:
                throw MigrationError.protocolError("unexpected \(type) record before the machine state")
            }
        }
    }
}
