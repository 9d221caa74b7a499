/// A saved device state that cannot be restored (it may come from a damaged or hostile file).
public enum DeviceStateError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalid(device: String, reason: String)

    public var description: String {
        switch self {
        case .invalid(let device, let reason): return "cannot restore the \(device): \(reason)"
        }
    }
}
