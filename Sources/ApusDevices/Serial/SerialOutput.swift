/// Where a UART's transmitter sends bytes: the host side of the serial line.
public protocol SerialOutput: Sendable {
    func transmit(_ byte: UInt8)
}
