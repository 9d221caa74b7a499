/// One Intel 8259A programmable interrupt controller as a value: its registers, its initialization sequence and its
/// priority logic. `DualPIC` wires two of them as the PC does (the slave on the master's IRQ 2).
///
/// Ports (offsets): 0 = command (ICW1, OCW2, OCW3) and IRR/ISR/poll reads; 1 = data (ICW2-4 during initialization,
/// then OCW1, the interrupt mask).
public struct PIC8259: Codable, Sendable, Equatable {
    /// Interrupt request register: inputs waiting to be serviced.
    public var irr: UInt8 = 0
    /// In-service register: interrupts acknowledged and not yet ended (EOI).
    public var isr: UInt8 = 0
    /// Interrupt mask register (OCW1).
    public var imr: UInt8 = 0xFF
    /// Input levels last seen, for edge detection.
    public var levels: UInt8 = 0
    /// Inputs that are level-triggered (ICW1 LTIM for all of them, or the ELCR per input).
    public var levelTriggered: UInt8 = 0
    /// ICW2: the vector of input 0; inputs 1-7 follow.
    public var vectorBase: UInt8 = 0
    /// The input with the lowest priority (7 after initialization; rotation moves it).
    public var lowestPriority: UInt8 = 7
    public var autoEOI = false
    public var rotateOnAutoEOI = false
    public var specialMask = false
    /// OCW3: reads of port 0 return the ISR (true) or the IRR.
    public var readISR = false
    /// OCW3 poll: the next read of port 0 acknowledges and returns the highest request.
    public var pollPending = false
    /// Where the initialization sequence stands: 0 = done, 2-4 = expecting ICW2-ICW4.
    public var initStep: UInt8 = 0
    public var single = false
    public var needsICW4 = false

    public init() {}

    // MARK: Inputs

    /// Drives input `irq`. Edge-triggered inputs request on a rising edge; level-triggered ones while high.
    public mutating func setLevel(_ irq: Int, _ high: Bool) {
        let bit: UInt8 = 1 << UInt8(irq & 7)
        if high {
            if levelTriggered & bit != 0 || levels & bit == 0 { irr |= bit }
            levels |= bit
        } else {
            levels &= ~bit
            if levelTriggered & bit != 0 { irr &= ~bit }
        }
    }

    // MARK: Priority

    /// Inputs from highest to lowest priority.
    private var priorityOrder: [Int] {
        (1...8).map { (Int(lowestPriority) + $0) & 7 }
    }

    /// The input that would be delivered now: requested, unmasked, and above everything in service (except with
    /// special mask mode, where only masked in-service inputs block).
    public var highestRequest: Int? {
        let pending = irr & ~imr
        guard pending != 0 else { return nil }
        let blocking = specialMask ? isr & ~imr : isr
        for irq in priorityOrder {
            if blocking & (1 << UInt8(irq)) != 0 { return nil }
            if pending & (1 << UInt8(irq)) != 0 { return irq }
        }
        return nil
    }

    /// The INT output.
    public var interruptRequested: Bool { highestRequest != nil }

    /// INTA: takes the highest request into service and returns its input, or nil for a spurious acknowledge.
    public mutating func acknowledge() -> Int? {
        guard let irq = highestRequest else { return nil }
        let bit: UInt8 = 1 << UInt8(irq)
        if levelTriggered & bit == 0 { irr &= ~bit }
        if autoEOI {
            if rotateOnAutoEOI { lowestPriority = UInt8(irq) }
        } else {
            isr |= bit
        }
        return irq
    }

    /// The vector for input `irq`.
    public func vector(for irq: Int) -> UInt8 { (vectorBase & 0xF8) | UInt8(irq & 7) }

    private var highestInService: Int? {
        priorityOrder.first { isr & (1 << UInt8($0)) != 0 }
    }

    // MARK: Registers

    public mutating func read(offset: UInt64) -> UInt8 {
        guard offset & 1 == 0 else { return imr }
        if pollPending {
            pollPending = false
            guard let irq = acknowledge() else { return 0 }
            return 0x80 | UInt8(irq)
        }
        return readISR ? isr : irr
    }

    public mutating func write(offset: UInt64, value: UInt8) {
        if offset & 1 == 0 {
            if value & 0x10 != 0 {
                initialize(icw1: value)
            } else if value & 0x08 != 0 {
                operationCommand3(value)
            } else {
                operationCommand2(value)
            }
            return
        }
        switch initStep {
        case 2:
            vectorBase = value & 0xF8
            initStep = single ? (needsICW4 ? 4 : 0) : 3
        case 3:
            // ICW3: which inputs have slaves (master) or our cascade identity (slave); the PC wiring is fixed.
            initStep = needsICW4 ? 4 : 0
        case 4:
            autoEOI = value & 0x02 != 0
            initStep = 0
        default:
            imr = value
        }
    }

    private mutating func initialize(icw1: UInt8) {
        irr = 0
        isr = 0
        imr = 0
        lowestPriority = 7
        specialMask = false
        readISR = false
        pollPending = false
        autoEOI = false
        rotateOnAutoEOI = false
        levelTriggered = icw1 & 0x08 != 0 ? 0xFF : levelTriggered
        single = icw1 & 0x02 != 0
        needsICW4 = icw1 & 0x01 != 0
        // `levels` keeps the inputs' real levels: an input already high must fall and rise again to request.
        initStep = 2
    }

    private mutating func operationCommand2(_ value: UInt8) {
        let level = Int(value & 7)
        switch value >> 5 {
        case 0b001:  // non-specific EOI
            if let irq = highestInService { isr &= ~(1 << UInt8(irq)) }
        case 0b011:  // specific EOI
            isr &= ~(1 << UInt8(level))
        case 0b101:  // rotate on non-specific EOI
            if let irq = highestInService {
                isr &= ~(1 << UInt8(irq))
                lowestPriority = UInt8(irq)
            }
        case 0b111:  // rotate on specific EOI
            isr &= ~(1 << UInt8(level))
            lowestPriority = UInt8(level)
        case 0b110:  // set priority
            lowestPriority = UInt8(level)
        case 0b100:
            rotateOnAutoEOI = true
        case 0b000:
            rotateOnAutoEOI = false
        default:
            break
        }
    }

    private mutating func operationCommand3(_ value: UInt8) {
        if value & 0x04 != 0 { pollPending = true }
        if value & 0x02 != 0 { readISR = value & 0x01 != 0 }
        if value & 0x40 != 0 { specialMask = value & 0x20 != 0 }
    }
}
