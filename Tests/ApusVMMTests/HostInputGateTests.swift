import ApusCore
import ApusDevices
import ApusTesting
@testable import ApusVMM
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A paused machine's guest memory must not change: host input (here, bytes on --console2's Unix socket) waits while
/// the gate is closed and reaches the guest's receive buffer once it opens.
@Suite struct HostInputGateTests {
    /// A liveness bound for the delivery after the gate opens, not a timing assertion.
    static let deliveryLimit: TimeInterval = 30

    @Test func consoleInputWaitsForTheGateAndArrivesWhenItOpens() throws {
        let path = "/tmp/apus-gate-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        let listener = try listen(at: path)
        defer {
            close(listener)
            unlink(path)
        }
        let stream = try HostByteStream(path: path)
        let peer = accept(listener, nil, nil)
        try #require(peer >= 0, "accept: \(String(cString: strerror(errno)))")
        defer { close(peer) }

        let memory = try GuestMemory(size: 4 << 20)
        let bus = PCIBus()
        let gate = HostInputGate(held: true)
        let functions = try PCIPlatform.plugHostDevices(
            PCIHostDevices(secondConsole: stream), bus: bus, memory: memory, gate: gate,
            interrupts: { _ in PCIInterruptOut(intx: RecordingInterruptLine(), msi: nil) })
        defer { for function in functions { function.stop() } }
        let function = try #require(functions.first?.function)
        let (receive, _) = try VirtioFunctionSetup.driveToReady(function, bus: bus, memory: memory)
        let buffer: UInt64 = 0x10_0000
        _ = try bus.exclusively { try receive.post([.writable(buffer, 256)]) }
        bus.exclusively { function.writeBar(4, offset: 0x3000, size: 2, value: 0) }

        let message = Array("typed while paused\n".utf8)
        #expect(message.withUnsafeBytes { write(peer, $0.baseAddress, $0.count) } == message.count)
        // While the gate is closed nothing may reach the buffer. A broken gate on a very slow host could slip past
        // this look, but a working one can never fail it.
        Thread.sleep(forTimeInterval: 0.3)
        #expect(try bus.exclusively { try receive.takeUsed() }.isEmpty, "input reached guest memory while held")

        PCIPlatform.setHostInput(held: false, gate: gate, functions: functions, bus: bus)
        var received: [UInt8] = []
        let start = Date()
        while received.count < message.count && Date().timeIntervalSince(start) < Self.deliveryLimit {
            for entry in try bus.exclusively({ try receive.takeUsed() }) {
                received += try memory.readBytes(at: GuestAddress(buffer), count: Int(entry.length))
                if received.count < message.count {
                    _ = try bus.exclusively { try receive.post([.writable(buffer, 256)]) }
                    bus.exclusively { function.writeBar(4, offset: 0x3000, size: 2, value: 0) }
                }
            }
            if received.count < message.count { Thread.sleep(forTimeInterval: 0.01) }
        }
        #expect(received == message, "after the gate opened the guest got \(received.count) of \(message.count) bytes")
    }

    private func listen(at path: String) throws -> Int32 {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        try #require(descriptor >= 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { bytes in
            for (index, byte) in path.utf8.enumerated() { bytes[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        try #require(bound == 0 && Glibc.listen(descriptor, 1) == 0, "\(path): \(String(cString: strerror(errno)))")
        return descriptor
    }
}
