/// A raw DEFLATE (RFC 1951) decoder for qcow2's compressed clusters, in Swift: Foundation on Linux exposes no
/// zlib API, and a decoder of our own bounds-checks hostile input itself. Decoding stops at the final block or
/// when `capacity` output bytes exist; malformed input is an error, never a crash.
enum Inflate {
    struct Malformed: Error {
        let reason: String
    }

    static func decode(_ input: [UInt8], capacity: Int) throws(Malformed) -> [UInt8] {
        var reader = BitReader(input)
        var output: [UInt8] = []
        output.reserveCapacity(capacity)
        var final = false
        while !final && output.count < capacity {
            final = try reader.bits(1) == 1
            switch try reader.bits(2) {
            case 0:
                reader.alignToByte()
                let length = Int(try reader.bits(16))
                let complement = Int(try reader.bits(16))
                guard length == ~complement & 0xFFFF else { throw Malformed(reason: "stored block length check") }
                for _ in 0..<length { output.append(UInt8(try reader.bits(8))) }
            case 1:
                try inflateBlock(&reader, &output, capacity, Huffman.fixedLiterals, Huffman.fixedDistances)
            case 2:
                let (literals, distances) = try dynamicTables(&reader)
                try inflateBlock(&reader, &output, capacity, literals, distances)
            default:
                throw Malformed(reason: "reserved block type")
            }
        }
        return output.count > capacity ? Array(output[0..<capacity]) : output
    }

    private static let lengthBase: [Int] = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59,
                                            67, 83, 99, 115, 131, 163, 195, 227, 258]
    private static let lengthExtra: [Int] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4,
                                             5, 5, 5, 5, 0]
    private static let distanceBase: [Int] = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513,
                                              769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577]
    private static let distanceExtra: [Int] = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10,
                                               10, 11, 11, 12, 12, 13, 13]
    private static let codeLengthOrder = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]

    private static func inflateBlock(_ reader: inout BitReader, _ output: inout [UInt8], _ capacity: Int,
                                     _ literals: Huffman, _ distances: Huffman) throws(Malformed) {
        while true {
            let symbol = try literals.decode(&reader)
            if symbol < 256 {
                output.append(UInt8(symbol))
            } else if symbol == 256 {
                return
            } else {
                let index = symbol - 257
                guard index < lengthBase.count else { throw Malformed(reason: "length symbol \(symbol)") }
                let length = lengthBase[index] + Int(try reader.bits(lengthExtra[index]))
                let distanceSymbol = try distances.decode(&reader)
                guard distanceSymbol < distanceBase.count else { throw Malformed(reason: "distance symbol") }
                let distance = distanceBase[distanceSymbol] + Int(try reader.bits(distanceExtra[distanceSymbol]))
                guard distance <= output.count else { throw Malformed(reason: "distance before the output start") }
                let start = output.count - distance
                for i in 0..<length { output.append(output[start + i]) }
            }
            // A cluster never decodes to more than its size: stop a hostile stream early.
            if output.count >= capacity { return }
        }
    }

    private static func dynamicTables(_ reader: inout BitReader) throws(Malformed) -> (Huffman, Huffman) {
        let literalCount = Int(try reader.bits(5)) + 257
        let distanceCount = Int(try reader.bits(5)) + 1
        let codeLengthCount = Int(try reader.bits(4)) + 4
        var codeLengthLengths = [Int](repeating: 0, count: 19)
        for i in 0..<codeLengthCount { codeLengthLengths[codeLengthOrder[i]] = Int(try reader.bits(3)) }
        let codeLengths = try Huffman(lengths: codeLengthLengths)
        var lengths: [Int] = []
        while lengths.count < literalCount + distanceCount {
            let symbol = try codeLengths.decode(&reader)
            switch symbol {
            case 0...15: lengths.append(symbol)
            case 16:
                guard let previous = lengths.last else { throw Malformed(reason: "repeat with no previous length") }
                lengths += Array(repeating: previous, count: 3 + Int(try reader.bits(2)))
            case 17: lengths += Array(repeating: 0, count: 3 + Int(try reader.bits(3)))
            default: lengths += Array(repeating: 0, count: 11 + Int(try reader.bits(7)))
            }
        }
        guard lengths.count == literalCount + distanceCount else { throw Malformed(reason: "code lengths overrun") }
        return (try Huffman(lengths: Array(lengths[0..<literalCount])),
                try Huffman(lengths: Array(lengths[literalCount...])))
    }

    struct BitReader {
        let bytes: [UInt8]
        var position = 0
        var bitBuffer: UInt64 = 0
        var bitCount = 0

        init(_ bytes: [UInt8]) { self.bytes = bytes }

        mutating func bits(_ count: Int) throws(Malformed) -> UInt32 {
            if count == 0 { return 0 }
            while bitCount < count {
                guard position < bytes.count else { throw Malformed(reason: "input ends mid-stream") }
                bitBuffer |= UInt64(bytes[position]) << UInt64(bitCount)
                position += 1
                bitCount += 8
            }
            let value = UInt32(bitBuffer & ((1 << UInt64(count)) - 1))
            bitBuffer >>= UInt64(count)
            bitCount -= count
            return value
        }

        mutating func alignToByte() {
            bitBuffer >>= UInt64(bitCount % 8)
            bitCount -= bitCount % 8
        }
    }

    /// A canonical Huffman code decoded bit by bit (counts per length, symbols in code order).
    struct Huffman {
        var counts = [Int](repeating: 0, count: 16)
        var symbols: [Int] = []

        init(lengths: [Int]) throws(Malformed) {
            for length in lengths { counts[length] += 1 }
            counts[0] = 0
            var left = 1
            for length in 1...15 {
                left = left * 2 - counts[length]
                guard left >= 0 else { throw Malformed(reason: "over-subscribed Huffman code") }
            }
            var offsets = [Int](repeating: 0, count: 16)
            for length in 1..<15 { offsets[length + 1] = offsets[length] + counts[length] }
            symbols = [Int](repeating: 0, count: lengths.count)
            for (symbol, length) in lengths.enumerated() where length != 0 {
                symbols[offsets[length]] = symbol
                offsets[length] += 1
            }
        }

        func decode(_ reader: inout BitReader) throws(Malformed) -> Int {
            var code = 0
            var first = 0
            var index = 0
            for length in 1...15 {
                code |= Int(try reader.bits(1))
                let count = counts[length]
                if code - first < count { return symbols[index + code - first] }
                index += count
                first = (first + count) << 1
                code <<= 1
            }
            throw Malformed(reason: "invalid Huffman code")
        }

        static let fixedLiterals: Huffman = {
            var lengths = [Int](repeating: 8, count: 288)
            for i in 144..<256 { lengths[i] = 9 }
            for i in 256..<280 { lengths[i] = 7 }
            return try! Huffman(lengths: lengths)
        }()
        static let fixedDistances: Huffman = try! Huffman(lengths: [Int](repeating: 5, count: 30))
    }
}
