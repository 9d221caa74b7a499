/// Which controller inputs each global system interrupt drives. On a PC an ISA IRQ drives a pin of the 8259A pair
/// and a pin of the IOAPIC (IRQ 0 its pin 2); GSIs 16-23 reach the IOAPIC only. Asking for a GSI nothing is wired
/// to is an error when the machine is built, never a line that silently lands on another pin.
public struct GSIRouting: Sendable {
    private var routes: [UInt32: [any InterruptLine]] = [:]

    public init() {}

    /// Adds `line` as one more input `gsi` drives.
    public mutating func connect(_ gsi: UInt32, to line: any InterruptLine) {
        routes[gsi, default: []].append(line)
    }

    /// Every GSI with at least one input behind it.
    public var routedGSIs: [UInt32] { routes.keys.sorted() }

    public func line(_ gsi: UInt32) throws -> any InterruptLine {
        guard let lines = routes[gsi], !lines.isEmpty else { throw InterruptRoutingError.unroutable(gsi: gsi) }
        return lines.count == 1 ? lines[0] : FanOutLine(lines: lines)
    }
}

public enum InterruptRoutingError: Error, Equatable, CustomStringConvertible {
    case unroutable(gsi: UInt32)

    public var description: String {
        switch self {
        case .unroutable(let gsi): return "GSI \(gsi) is not wired to any interrupt controller input on this machine"
        }
    }
}

/// One source driving several controller inputs at once.
struct FanOutLine: InterruptLine {
    let lines: [any InterruptLine]
    func setLevel(_ asserted: Bool) { for line in lines { line.setLevel(asserted) } }
}
