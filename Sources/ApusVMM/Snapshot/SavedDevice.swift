import ApusCore
import ApusDevices

/// One device's state in a snapshot, tagged by device kind so a restore can check it lands on the same kind.
enum SavedDevice: Codable, Sendable, Equatable {
    case serial(Serial16550.State)
    case debugExit(DebugExitDevice.State)
    case postCode(PostCodePort.State)

    static func save(_ device: any BusDevice) -> SavedDevice? {
        switch device {
        case let uart as Serial16550: return .serial(uart.saveState())
        case let exit as DebugExitDevice: return .debugExit(exit.saveState())
        case let post as PostCodePort: return .postCode(post.saveState())
        default: return nil
        }
    }

    func restore(into device: any BusDevice, name: String) throws {
        switch (self, device) {
        case (.serial(let state), let uart as Serial16550): try uart.restoreState(state)
        case (.debugExit(let state), let exit as DebugExitDevice): try exit.restoreState(state)
        case (.postCode(let state), let post as PostCodePort): try post.restoreState(state)
        default: throw SnapshotError.corrupt("saved state for device \(name) is for another kind of device")
        }
    }
}
