/// Register offsets and bits of the 16550A (PC16550D datasheet), named once so the device reads like the datasheet.
enum UARTRegister {
    static let data: UInt64 = 0            // RBR (read) / THR (write); DLL when DLAB=1
    static let interruptEnable: UInt64 = 1 // IER; DLM when DLAB=1
    static let interruptIdentity: UInt64 = 2 // IIR (read) / FCR (write)
    static let lineControl: UInt64 = 3
    static let modemControl: UInt64 = 4
    static let lineStatus: UInt64 = 5
    static let modemStatus: UInt64 = 6
    static let scratch: UInt64 = 7
}

enum UARTBit {
    static let ierReceivedData: UInt8 = 0x01
    static let ierTransmitEmpty: UInt8 = 0x02
    static let ierLineStatus: UInt8 = 0x04
    static let ierModemStatus: UInt8 = 0x08

    static let iirNoInterrupt: UInt8 = 0x01
    static let iirLineStatus: UInt8 = 0x06
    static let iirReceivedData: UInt8 = 0x04
    static let iirCharacterTimeout: UInt8 = 0x0C
    static let iirTransmitEmpty: UInt8 = 0x02
    static let iirModemStatus: UInt8 = 0x00
    static let iirFIFOsEnabled: UInt8 = 0xC0

    static let fcrEnable: UInt8 = 0x01
    static let fcrClearReceive: UInt8 = 0x02
    static let fcrClearTransmit: UInt8 = 0x04

    static let lcrDivisorLatch: UInt8 = 0x80

    static let mcrDTR: UInt8 = 0x01
    static let mcrRTS: UInt8 = 0x02
    static let mcrOut1: UInt8 = 0x04
    static let mcrOut2: UInt8 = 0x08
    static let mcrLoopback: UInt8 = 0x10

    static let lsrDataReady: UInt8 = 0x01
    static let lsrOverrun: UInt8 = 0x02
    static let lsrTransmitEmpty: UInt8 = 0x20
    static let lsrTransmitterIdle: UInt8 = 0x40
    static let lsrErrorMask: UInt8 = 0x1E

    static let msrCTS: UInt8 = 0x10
    static let msrDSR: UInt8 = 0x20
    static let msrRI: UInt8 = 0x40
    static let msrDCD: UInt8 = 0x80
}
