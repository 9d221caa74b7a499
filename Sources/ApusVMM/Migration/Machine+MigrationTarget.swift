public import ApusCore
public import ApusDevices
import Foundation

extension Machine {
    /// Receives a machine sent by `migrate(over:)` on the connected stream socket `fd`. Its memory is allocated at
    /// the source's hello and filled as pages arrive while the source still runs; at the state record the machine
    /// is built around it (disks opened only now, after the source flushed them) with the saved vCPU and device
    /// state, started paused, and reported ready; `onCommit` runs when the source commits (by default it resumes the
    /// guest). Whatever fails before the commit — a malformed stream, a layout or backend this host cannot run, a lost
    /// connection — is sent back as the reason (while the connection works) and thrown; the source then resumes.
    public static func receiveMigration(over fd: Int32, output: any SerialOutput, backend: BackendChoice? = nil,
                                        onCommit: (Machine) throws -> Void = { try $0.resume() }) throws -> Machine {
        let channel = MigrationChannel(fd: fd)
        do {
            let memory = try receiveHello(over: channel)
            let snapshot = try receivePages(into: memory, over: channel)
            let machine = try rebuild(snapshot, memory: memory, output: output, backend: backend, handedOverDisks: nil,
                                      summary: "migrated machine") { _ in }
            do {
                try machine.start()
                try channel.send(.ready)
                let (decision, reason) = try channel.receive()
                switch decision {
                case .commit: break
                case .abort: throw MigrationError.aborted(String(decoding: reason, as: UTF8.self))
                default: throw MigrationError.protocolError("expected commit, got \(decision)")
                }
                try onCommit(machine)
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

    /// Reads the hello and allocates the memory it announces, within what a machine may have.
    private static func receiveHello(over channel: MigrationChannel) throws -> GuestMemory {
        let (type, payload) = try channel.receive()
        guard type == .hello else { throw MigrationError.protocolError("expected hello, got \(type)") }
        let hello: MigrationHello
        do {
            hello = try JSONDecoder().decode(MigrationHello.self, from: Data(payload))
        } catch {
            throw MigrationError.protocolError("the hello record is not readable (\(error))")
        }
        guard hello.formatVersion == MigrationChannel.formatVersion else {
            throw MigrationError.incompatible("the source speaks migration format \(hello.formatVersion), this build "
                                              + "\(MigrationChannel.formatVersion)")
        }
        let total = hello.regions.reduce(UInt64(0)) { $0 &+ $1.size }
        guard !hello.regions.isEmpty, total <= UInt64(MachineConfiguration.maximumMemoryMiB) << 20 else {
            throw MigrationError.incompatible("the source announces \(total >> 20) MiB of RAM; a machine has 2 to "
                                              + "\(MachineConfiguration.maximumMemoryMiB) MiB")
        }
        return try GuestMemory(layout: hello.regions.map { (GuestAddress($0.start), $0.size) })
    }

    /// Writes `pages` and `zeroPages` records into `memory` until the `state` record, which it returns decoded.
    private static func receivePages(into memory: GuestMemory, over channel: MigrationChannel) throws -> MachineSnapshot {
        let pageSize = 4096
        let zeroPage = [UInt8](repeating: 0, count: pageSize)
        while true {
            let (type, payload) = try channel.receive()
            switch type {
            case .pages:
                let stride = 8 + pageSize
                guard payload.count % stride == 0 else {
                    throw MigrationError.protocolError("a pages record of \(payload.count) bytes")
                }
                try payload.withUnsafeBytes { bytes in
                    for offset in Swift.stride(from: 0, to: bytes.count, by: stride) {
                        let page = try pageAddress(bytes, at: offset)
                        try memory.write(UnsafeRawBufferPointer(rebasing: bytes[offset + 8..<offset + stride]), at: page)
                    }
                }
            case .zeroPages:
                guard payload.count % 8 == 0 else {
                    throw MigrationError.protocolError("a zero-pages record of \(payload.count) bytes")
                }
                try payload.withUnsafeBytes { bytes in
                    for offset in Swift.stride(from: 0, to: bytes.count, by: 8) {
                        try memory.write(zeroPage, at: try pageAddress(bytes, at: offset))
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

    /// The page address at `offset`, which must be page-aligned and inside guest RAM.
    private static func pageAddress(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws -> GuestAddress {
        let page = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
        guard page % 4096 == 0 else {
            throw MigrationError.protocolError("page address 0x\(String(page, radix: 16)) is not page-aligned")
        }
        return GuestAddress(page)
    }
}
