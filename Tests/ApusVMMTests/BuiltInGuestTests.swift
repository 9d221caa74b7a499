import ApusCore
import ApusGuests
import ApusVMM
import Testing

/// Every guest in guests/ must pass on every backend usable here (Popek-Goldberg equivalence, end to end).
@Suite struct BuiltInGuestTests {
    static let passingGuests = BuiltInGuests.all.filter { !["triplefault", "unmapped", "piobench", "counter"].contains($0.name) }

    @Test(arguments: passingGuests.map(\.name))
    func guestPassesOnEveryBackend(name: String) throws {
        let guest = try #require(BuiltInGuests.named(name))
        for backend in Backends.usable(for: "guest \(name)") {
            let (outcome, output) = try runGuest(guest, on: backend)
            #expect(outcome == .exited(code: guest.expectedResult), "\(name) on \(backend): \(outcome)")
            #expect(output == guest.expectedOutput, "\(name) on \(backend) printed: \(output)")
        }
    }

    @Test func tripleFaultEndsTheRunNamingTheExit() throws {
        let guest = try #require(BuiltInGuests.named("triplefault"))
        for backend in Backends.usable(for: "triplefault") {
            let (outcome, _) = try runGuest(guest, on: backend)
            #expect(outcome == .tripleFault(vcpu: 0), "\(backend): \(outcome)")
            #expect(outcome.description.contains("triple-fault"))
        }
    }

    @Test func unmappedPortWriteFailsWithTheAddress() throws {
        let guest = try #require(BuiltInGuests.named("unmapped"))
        for backend in Backends.usable(for: "unmapped") {
            let (outcome, _) = try runGuest(guest, on: backend)
            guard case .failed(let message) = outcome else {
                Issue.record("\(backend): expected a failure, got \(outcome)")
                continue
            }
            #expect(message.contains("0x1234"), "\(message)")
        }
    }

    @Test func theDemoGuestIsBuiltIn() {
        #expect(BuiltInGuests.demo.name == "demo")
        #expect(!BuiltInGuests.demo.image.isEmpty)
    }
}
