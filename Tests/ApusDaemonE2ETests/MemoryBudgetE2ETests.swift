import ApusAPI
import ApusClient
import Foundation
import Testing

/// Admission control: a start that would commit more guest memory than --memory-budget is refused with 507, saying
/// what is committed and available; stopping or suspending a VM gives its memory back.
@Suite struct MemoryBudgetE2ETests {
    @Test func aVMOverTheBudgetIsRefused() throws {
        let directory = try DaemonProcess.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let daemon = DaemonProcess(directory: directory)
        try daemon.start(["--memory-budget", "100"])
        let http = UnixHTTPClient(socketPath: daemon.socketPath)
        for name in ["first", "second"] {
            _ = try daemon.client.define(VMDefinition(name: name, memoryMiB: 64, boot: .guest("counter")))
        }
        _ = try daemon.client.perform(.start, on: "first")
        let refused = try http.send("POST", "/v1/vms/second/start")
        let text = String(decoding: refused.body, as: UTF8.self)
        #expect(refused.status == 507, "\(text)")
        let error = try JSONDecoder().decode(APIErrorBody.self, from: Data(refused.body))
        #expect(error.error.code == "insufficient-memory")
        #expect(error.error.message.contains("needs 64 MiB, but 64 MiB of the 100 MiB memory budget are committed"))
        #expect(error.error.message.contains("36 MiB available"))
        #expect(try daemon.client.show("second").state == .inactive)

        // Suspending the first gives its memory back; resuming it from disk then needs the budget again.
        _ = try daemon.client.perform(.suspend, on: "first")
        #expect(try daemon.client.perform(.start, on: "second").state == .active)
        #expect(try http.send("POST", "/v1/vms/first/resume").status == 507)
        _ = try daemon.client.perform(.stop, on: "second")
        #expect(try daemon.client.perform(.resume, on: "first").state == .active)
        #expect(daemon.terminate() == 0)
    }
}
