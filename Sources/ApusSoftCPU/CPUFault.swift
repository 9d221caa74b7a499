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

    /// The fault as raised while delivering an event external to the program (an interrupt, an NMI, an earlier
    /// exception, INT1): EXT, bit 0 of a selector-format error code (#TS, #NP, #SS, #GP), is set (SDM Vol. 3, 6.13).
    var duringExternalEvent: CPUFault {
        guard let code = errorCode, [.invalidTSS, .segmentNotPresent, .stackFault, .generalProtection].contains(vector)
        else { return self }
        var fault = self
        fault.errorCode = code | 1
        return fault
    }

    /// The SDM's classes for a second exception raised while delivering a first (Vol. 3, 6.15, Table 6-5).
    enum Class { case benign, contributory, pageFault }
    var deliveryClass: Class {
        switch vector {
        case .divideError, .invalidTSS, .segmentNotPresent, .stackFault, .generalProtection: return .contributory
        case .pageFault: return .pageFault
        default: return .benign
        }
    }
}

/// Why an instruction stopped before completing without being a guest fault: it needs the VMM.
enum ExitRequest: Error {
    /// A port or MMIO read whose value the VMM supplies; the instruction re-executes with it on the next run().
    case pendingRead
}
