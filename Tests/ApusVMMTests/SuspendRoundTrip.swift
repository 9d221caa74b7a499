import ApusDevices
import ApusVMM
import Foundation

/// Pauses `machine`, suspends it to a fresh directory, stops it, then restores a new machine from that directory
/// (which is removed afterwards: the restore has read everything) and resumes it. Its console goes to the returned
/// output.
func suspendAndResume(_ machine: Machine) throws -> (Machine, CapturingSerialOutput) {
    try machine.pause()
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("apus-round-trip-\(UUID())")
    defer { try? FileManager.default.removeItem(at: directory) }
    try machine.suspend(to: directory)
    machine.stop()
    _ = machine.waitForOutcome()
    let output = CapturingSerialOutput()
    let restored = try Machine.restore(from: directory, output: output)
    try restored.start()
    try restored.resume()
    return (restored, output)
}
