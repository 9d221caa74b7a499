/// An exception the guest's own instruction raised: delivered through the guest's IDT, never to the host.
struct CPUFault: Error {
    enum Vector: UInt8 {
        case divideError = 0, debug = 1, breakpoint = 3, overflow = 4, boundRange = 5, invalidOpcode = 6, deviceNotAvailable = 7
        case doubleFault = 8, invalidTSS = 10, segmentNotPresent = 11, stackFault = 12, generalProtection = 13
        case pageFault = 14, floatingPointError = 16, simdFloatingPoint = 19
    }

    var vector: Vector
    var errorCode: UInt32?
    /// For #PF: the linear address that faulted (CR2).
    var address: UInt64 = 0

    static func gp(_ code: UInt32 = 0) -> CPUFault { CPUFault(vector: .generalProtection, errorCode: code) }
    static let ud = CPUFault(vector: .invalidOpcode, errorCode: nil)
    static let de = CPUFault(vector: .divideError, errorCode: nil)
}

/// Why an instruction stopped before completing without being a guest fault: it needs the VMM.
enum ExitRequest: Error {
    /// A port or MMIO read whose value the VMM supplies; the instruction re-executes with it on the next run().
    case pendingRead
}
