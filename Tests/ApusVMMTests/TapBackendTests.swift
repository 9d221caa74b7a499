import ApusCore
import ApusDevices
import ApusTesting
@testable import ApusVMM
import Foundation
import Synchronization
import Testing

/// virtio-net on a real TAP, without a guest: the test opens (creates) a TAP as `--net` does, moves it into a
/// network namespace of its own with 10.0.3.1/24, and plays the guest's driver with the queue double. An ARP request
/// sent through the transmit queue reaches the namespace's kernel, whose ARP reply comes back through the TAP reader
/// thread into a posted receive buffer. Skips with the reason where the test may not create namespaces or TAPs.
@Suite struct TapBackendTests {
    static let guestMAC: [UInt8] = [0x02, 0xA9, 0x00, 0x00, 0x03, 0x02]
    /// A liveness bound for the reply (the namespace's kernel answers in microseconds), not a timing assertion.
    static let replyLimit: TimeInterval = 30

    final class MSIRecorder: MSIMessageSink {
        let count = Atomic<Int>(0)
        func deliver(address: UInt64, data: UInt32) { count.add(1, ordering: .relaxed) }
    }

    @Test func anARPRequestGetsItsReplyThroughATap() throws {
        guard let namespace = try ThrowawayNetworkNamespace.create(prefix: "apus-tap", for: "TapBackendTests") else {
            return
        }
        defer { namespace.delete() }
        let name = "apu\(getpid() % 1_000_000)"
        let attachment = try NetworkAttachment(tap: name, mac: Self.guestMAC)
        let tap = try TapInterface(name: name)
        #expect(tap.created, "the TAP did not exist before")
        try namespace.adopt(tap: name, address: "10.0.3.1/24")

        let memory = try GuestMemory(size: 4 << 20)
        let bus = PCIBus()
        let msi = MSIRecorder()
        let functions = try PCIPlatform.plugHostDevices(
            PCIHostDevices(taps: [(attachment, tap)]), bus: bus, memory: memory, gate: HostInputGate(),
            interrupts: { _ in PCIInterruptOut(intx: RecordingInterruptLine(), msi: msi) })
        defer { for function in functions { function.stop() } }
        let function = try #require(functions.first?.function)
        let (receive, transmit) = try VirtioFunctionSetup.driveToReady(function, bus: bus, memory: memory)

        var bufferOfHead: [UInt16: UInt64] = [:]
        for index in 0..<8 {
            let address = 0x10_0000 + UInt64(index) * 0x1000
            bufferOfHead[try bus.exclusively { try receive.post([.writable(address, 2048)]) }] = address
        }
        bus.exclusively { function.writeBar(4, offset: 0x3000, size: 2, value: 0) }
        let request = [UInt8](repeating: 0, count: 12) + arpRequest(for: [10, 0, 3, 1], from: [10, 0, 3, 2])
        try memory.write(request, at: GuestAddress(0x20_0000))
        try bus.exclusively { try transmit.post([.readable(0x20_0000, UInt32(request.count))]) }
        bus.exclusively { function.writeBar(4, offset: 0x3004, size: 2, value: 1) }

        var reply: [UInt8]?
        let start = Date()
        while reply == nil && Date().timeIntervalSince(start) < Self.replyLimit {
            let used = try bus.exclusively { try receive.takeUsed() }
            for entry in used where entry.length > 12 {
                let taken = bufferOfHead.removeValue(forKey: entry.head)
                let address = try #require(taken, "the device returned a head it was not given")
                let frame = try Array(memory.readBytes(at: GuestAddress(address), count: Int(entry.length)).dropFirst(12))
                // An ARP reply (ethertype 0x0806, opcode 2) from 10.0.3.1 to us.
                if frame.count >= 42, frame[12] == 0x08, frame[13] == 0x06, frame[21] == 2,
                   Array(frame[28..<32]) == [10, 0, 3, 1], Array(frame[0..<6]) == Self.guestMAC {
                    reply = frame
                }
                bufferOfHead[try bus.exclusively { try receive.post([.writable(address, 2048)]) }] = address
            }
            if reply == nil { Thread.sleep(forTimeInterval: 0.01) }
        }
        let frame = try #require(reply, "no ARP reply came back through the TAP in \(Int(Self.replyLimit)) s")
        #expect(Array(frame[32..<38]) == Self.guestMAC, "the reply is addressed to the guest's MAC")
        #expect(try bus.exclusively { try transmit.takeUsed().count } == 1, "the request was completed")
    }

    private func arpRequest(for target: [UInt8], from sender: [UInt8]) -> [UInt8] {
        [UInt8](repeating: 0xFF, count: 6) + Self.guestMAC + [0x08, 0x06]
            + [0, 1, 0x08, 0, 6, 4, 0, 1] + Self.guestMAC + sender + [UInt8](repeating: 0, count: 6) + target
            + [UInt8](repeating: 0, count: 18)
    }
}
